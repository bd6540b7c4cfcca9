import { existsSync } from 'node:fs'
import { ConfigError, type Config } from './config.ts'

/**
 * What the service knows of the laptop launcher (`launcher/`): the shape of what it returns, and
 * where to find it. The launcher finds or starts Postgres and Redis on a newcomer's machine when
 * no URL names them; the image does not ship it, and a deployment always names both.
 */
export interface LocalServices {
  /** Connection URLs for what was found or started; empty when the environment names both. */
  overrides: Partial<Config>
  /** Process ids of the servers started here. */
  pids: { postgres?: number; redis?: number }
  /** Stops what was started here (nothing that was already running). */
  stop(): Promise<void>
}

type Env = Record<string, string | undefined>

interface Launcher {
  ensureLocalServices(env: Env, options?: object): Promise<LocalServices>
}

// A URL, not a specifier: the launcher is loaded only when needed, and only where it exists.
const LAUNCHER = new URL('../launcher/local-services.ts', import.meta.url)
const NOTHING_STARTED: LocalServices = { overrides: {}, pids: {}, stop: async () => {} }

/**
 * The Postgres and Redis the environment names, or, when it leaves one out, what the launcher
 * finds or starts. Without the launcher (the image), a missing URL is a configuration error.
 */
export async function localServices (env: Env, options: object = {}): Promise<LocalServices> {
  const missing = [
    ...(env.DATABASE_URL ? [] : ['DATABASE_URL']),
    ...(env.REDIS_URL || env.REDIS_CLUSTER_NODES ? [] : ['REDIS_URL (or REDIS_CLUSTER_NODES)']),
  ]
  if (missing.length === 0) return NOTHING_STARTED
  if (!existsSync(LAUNCHER)) {
    throw new ConfigError(missing.map((name) =>
      `${name}: required here (this installation has no launcher/ to find or start a local server)`))
  }
  const launcher = await import(LAUNCHER.href) as Launcher
  return launcher.ensureLocalServices(env, options)
}
