import t from 'tap'
import { ESLint } from 'eslint'
import { ROOT } from '../../src/paths.ts'

/**
 * The rooms' rules bite: each file below is linted as if it sat at that path (the text is the
 * test's, the files it imports are the project's), once with an import its room forbids and
 * once with one it allows.
 */
const eslint = new ESLint({ cwd: ROOT })

async function problems (filePath: string, text: string): Promise<string[]> {
  const [result] = await eslint.lintText(text, { filePath })
  return result!.messages.map((m) => `${m.ruleId}: ${m.message}`)
}

const RESTRICTED = 'import-x/no-restricted-paths'
const importing = (specifier: string) => `import * as imported from '${specifier}'\nexport const used = imported\n`

const CASES = [
  { file: 'src/start-check.ts', wrong: '../kit/scratch-servers.ts', right: './migrate.ts', says: /src\/ is what production runs/ },
  { file: 'src/start-check.ts', wrong: '../launcher/local-services.ts', right: './launcher.ts', says: /imports neither the launcher/ },
  { file: 'src/start-check.ts', wrong: '../bench/chart.ts', right: './config.ts', says: /bench\// },
  { file: 'src/sale/check.ts', wrong: '../plugins/external/redis.ts', right: './keys.ts', says: /the domain imports no plugin/ },
  { file: 'src/plugins/external/check.ts', wrong: '../../sale/keys.ts', right: '../../redact-url.ts', says: /external plugins connect, decorate and close/ },
  { file: 'test/check.ts', wrong: '../bench/chart.ts', right: '../kit/operator-client.ts', says: /test\/ imports nothing from bench\// },
  { file: 'bench/check.ts', wrong: '../test/helpers/eventually.ts', right: '../kit/operator-client.ts', says: /bench\/ imports nothing from test\// },
  { file: 'kit/check.ts', wrong: '../test/helpers/eventually.ts', right: '../src/migrate.ts', says: /the kit is shared/ },
  { file: 'launcher/check.ts', wrong: '../kit/scratch-servers.ts', right: '../src/paths.ts', says: /the launcher runs on laptops/ },
]

for (const { file, wrong, right, says } of CASES) {
  t.test(`${file}: ${wrong} is refused, ${right} is not`, async (t) => {
    const refused = await problems(file, importing(wrong))
    t.equal(refused.length, 1, refused.join('\n'))
    t.match(refused[0], RESTRICTED)
    t.match(refused[0], says)
    t.same(await problems(file, importing(right)), [], 'the allowed import lints clean')
  })
}

t.test('the service loads the launcher by URL, only where it exists: no import names it', async (t) => {
  t.same(await problems('src/launcher.ts', "export const at = new URL('../launcher/local-services.ts', import.meta.url)\n"), [])
})

t.test('an import cycle is refused', async (t) => {
  // app.ts imports errors.ts: errors.ts importing app.ts back closes a cycle.
  const cycle = await problems('src/errors.ts', importing('./app.ts'))
  t.equal(cycle.length, 1, cycle.join('\n'))
  t.match(cycle[0], /^import-x\/no-cycle: /)
  t.same(await problems('src/errors.ts', importing('./paths.ts')), [], 'an import that closes none lints clean')
})
