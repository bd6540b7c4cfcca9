// The JavaScript k6 0.48 can parse. k6 hands every ES module to the Babel 6 embedded in it,
// whose parser stops at ES2017: object spread and rest, numeric separators, `?.`, `??`,
// `catch {}` and class fields are syntax errors there, although Node runs them. acorn pinned to
// the same level fails where k6 would, with a line and column to go to.
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { parse } from 'acorn'

export const K6_ECMA_VERSION = 2017

// Node-side helpers that k6 never loads.
const NOT_LOADED_BY_K6 = new Set(['tools'])

function parses (source, ecmaVersion) {
  try {
    parse(source, { ecmaVersion, sourceType: 'module', locations: true })
    return null
  } catch (err) {
    if (err instanceof SyntaxError) return err
    throw err
  }
}

/** `file:line:column: message` when k6 0.48 would refuse the module, or null when it parses. */
export function syntaxProblem (source, file) {
  const err = parses(source, K6_ECMA_VERSION)
  if (err === null) return null
  const message = err.message.replace(/ \(\d+:\d+\)$/, '')
  // Telling "too new" from "broken" saves a search: the fix is to lower the syntax, not to repair it.
  const why = parses(source, 'latest') === null ? ' (syntax newer than ES2017, which k6 0.48 cannot parse)' : ''
  return `${file}:${err.loc.line}:${err.loc.column + 1}: ${message}${why}`
}

/** Every .js file under `dir` that k6 may load: the scenarios and what they import. */
export function k6Files (dir) {
  const out = []
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name)
    if (entry.isDirectory() && !NOT_LOADED_BY_K6.has(entry.name)) out.push(...k6Files(path))
    else if (entry.isFile() && entry.name.endsWith('.js')) out.push(path)
  }
  return out.sort()
}

/** The problems of `files`, each named as `nameOf(path)` gives it. */
export function checkFiles (files, nameOf = (f) => f) {
  return files.map((f) => syntaxProblem(readFileSync(f, 'utf8'), nameOf(f))).filter((p) => p !== null)
}
