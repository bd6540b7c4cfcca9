import { exitWith, prepare } from './prepare.ts'
import { serve, type Serving } from './server.ts'
import { onShutdownSignals } from './shutdown-signals.ts'

/**
 * What `npm start` runs: starts what a newcomer's machine lacks (Postgres, Redis) when no URL is
 * given, applies pending migrations, then serves until told to stop. The Postgres and
 * redis-server started here stop after the service has drained into them.
 *
 * The service owns its shutdown signals from its first moment: a signal that arrives while it
 * is still starting ends it at once, and what it had started gets its stop signal on the way out.
 */
export async function runService (env: Record<string, string | undefined>, localOptions: object = {}): Promise<void> {
  // A closed terminal fails every write to it: the shutdown it asks for (SIGHUP) must not die of that.
  for (const stream of [process.stdout, process.stderr]) stream.on('error', () => {})
  let serving: Serving | undefined // eslint-disable-line prefer-const -- assigned once serving, read by the signal handler before
  const stop = (reason: string, startupExitCode: number) => {
    if (serving) return serving.shutdown(reason)
    console.error(`[flashsale] ${reason} while starting: exiting`)
    process.exit(startupExitCode)
  }
  onShutdownSignals(stop)
  if (env.npm_lifecycle_event) watchParent(() => stop('npm exited', 1))

  const { config, local } = await prepare(env, localOptions).catch(exitWith('flashsale start'))
  serving = await serve(config, { afterClose: local.stop, handleSignals: false }).catch(async (err) => {
    await local.stop()
    return exitWith('flashsale start')(err)
  })
}

/**
 * Under npm, npm is the parent. npm forwards SIGTERM and SIGINT, but if it is killed outright the
 * service would go on serving with nobody to stop it: it stops by itself instead.
 */
function watchParent (onGone: () => void): void {
  const parent = process.ppid
  const timer = setInterval(() => {
    if (process.ppid === parent) return
    clearInterval(timer)
    onGone()
  }, 1_000)
  timer.unref()
}
