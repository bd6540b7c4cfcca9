import { exitWith, prepare } from './prepare.js'

/** `npm run migrate`: applies pending migrations and exits. */
const { local, applied } = await prepare(process.env).catch(exitWith('migrate'))
console.log(applied.length ? `applied: ${applied.join(', ')}` : 'schema is up to date')
await local.stop()
