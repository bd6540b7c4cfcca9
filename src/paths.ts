import { fileURLToPath } from 'node:url'

/** The project root: the sources run as they are, from src/. */
export const ROOT = fileURLToPath(new URL('..', import.meta.url))
