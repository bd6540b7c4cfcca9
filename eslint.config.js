import neostandard from 'neostandard'
import importX, { createNodeResolver } from 'eslint-plugin-import-x'

/**
 * The rooms of the house and who may import whom. `src/` is what production runs (the image
 * ships it alone), `launcher/` starts local servers on a laptop, `kit/` is what the tests and the
 * benchmark share. Inside `src/`, the domain knows no plugin and the external plugins know no
 * domain: they connect, decorate and close.
 */
export const ZONES = [
  {
    target: './src',
    from: ['./launcher', './kit', './bench', './test'],
    message: 'src/ is what production runs: it imports neither the launcher, the kit, bench/ nor test/.',
  },
  { target: './launcher', from: ['./kit', './bench', './test'], message: 'the launcher runs on laptops: no test or bench code.' },
  { target: './kit', from: ['./bench', './test'], message: 'the kit is shared by test/ and bench/: it imports neither.' },
  { target: './test', from: './bench', message: 'test/ imports nothing from bench/: what both need lives in kit/.' },
  { target: './bench', from: './test', message: 'bench/ imports nothing from test/: what both need lives in kit/.' },
  { target: './src/sale', from: './src/plugins', message: 'the domain imports no plugin: the plugins adapt to it.' },
  {
    target: './src/plugins/external',
    from: './src/sale',
    message: 'external plugins connect, decorate and close: domain types and logic live in src/sale/ or an app plugin.',
  },
]

const restrictedPaths = (zones) => ['error', { basePath: import.meta.dirname, zones }]

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
    files: ['**/*.ts', '**/*.js', '**/*.mjs'],
    plugins: { 'import-x': importX },
    settings: {
      'import-x/resolver-next': [createNodeResolver({ extensions: ['.ts', '.js', '.mjs'] })],
      // The modules an import leads to are read with the TypeScript parser (no-cycle follows them).
      'import-x/parsers': { '@typescript-eslint/parser': ['.ts'] },
      'import-x/extensions': ['.ts', '.js', '.mjs'],
    },
    rules: {
      'import-x/no-restricted-paths': restrictedPaths(ZONES),
      // Type-only imports are left out: they vanish when the sources run.
      'import-x/no-cycle': 'error',
    },
  },
  {
    // Functions stay short enough to read at once, plugin and route bodies included.
    files: ['src/**/*.ts', 'launcher/**/*.ts', 'kit/**/*.ts', 'bench/**/*.ts'],
    rules: { 'max-lines-per-function': ['error', { max: 60 }] },
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
