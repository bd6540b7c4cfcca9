import { dirname, join, sep } from 'node:path'
import { fileURLToPath } from 'node:url'

const here = dirname(fileURLToPath(import.meta.url))

/** The project root, whether running from src/ (tests) or from the compiled dist/src/. */
export const ROOT = join(here, here.includes(`${sep}dist${sep}`) ? '../..' : '..')
