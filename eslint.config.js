import neostandard from 'neostandard'

// neostandard, as fastify/demo uses, with TypeScript; k6 scripts get k6's globals.
export default [
  ...neostandard({
    ts: true,
    ignores: ['node_modules/**', 'bench/results/**', 'load-tests/results/**', 'coverage/**', '.tap/**', '.ci/node/**', '.data/**'],
  }),
  {
    rules: {
      // `void promise` marks a promise nobody awaits on purpose.
      'no-void': ['error', { allowAsStatement: true }],
    },
  },
  {
    // prom-client metrics register themselves with their registry when constructed.
    files: ['src/plugins/**/*.ts'],
    rules: { 'no-new': 'off' },
  },
  {
    files: ['load-tests/**/*.js'],
    languageOptions: { globals: { __ENV: 'readonly', __VU: 'readonly', __ITER: 'readonly' } },
  },
]
