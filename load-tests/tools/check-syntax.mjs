// Fails when a file k6 loads uses syntax k6 0.48 cannot parse (see k6-syntax.mjs).
//   node load-tests/tools/check-syntax.mjs [file.js ...]   (default: every k6 file under load-tests/)
import { dirname, join, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { checkFiles, k6Files, K6_ECMA_VERSION } from './k6-syntax.mjs'

const dir = join(dirname(fileURLToPath(import.meta.url)), '..')
const files = process.argv.length > 2 ? process.argv.slice(2).map((f) => resolve(f)) : k6Files(dir)
if (files.length === 0) {
  console.error(`no k6 files found under ${dir}`)
  process.exit(1)
}
const problems = checkFiles(files, (f) => relative(process.cwd(), f))
for (const p of problems) console.error(p)
if (problems.length > 0) {
  console.error(`${problems.length} of ${files.length} k6 files do not parse as ES${K6_ECMA_VERSION} modules, as k6 0.48 requires`)
  process.exit(1)
}
console.log(`${files.length} k6 files parse as ES${K6_ECMA_VERSION} modules`)
