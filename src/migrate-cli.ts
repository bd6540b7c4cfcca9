import { exitWith, prepare } from './prepare.ts'
import { onShutdownSignals } from './shutdown-signals.ts'

/** `npm run migrate`: applies pending migrations and exits. */
onShutdownSignals((signal, exitCode) => {
  console.error(`[flashsale] ${signal} during migrate: exiting`)
  process.exit(exitCode)
})
const { local, applied } = await prepare(process.env).catch(exitWith('migrate'))
console.log(applied.length ? `applied: ${applied.join(', ')}` : 'schema is up to date')
await local.stop()
