import { closeSync, existsSync, openSync } from 'node:fs'
import { chown, mkdir, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import postgres from 'postgres'
import { lastLines, spawnOwned, waitReady, type OwnedProcess } from './owned-process.ts'
import { postgresRuntime, type PostgresRuntime } from './postgres-runtime.ts'

export interface EmbeddedPostgres {
  url: string
  pid: number
  stop(): Promise<void>
}

// The credentials clusters made by earlier versions of the service were given: their data keeps working.
const USER = 'postgres'
const PASSWORD = 'flashsale'

/**
 * Starts a Postgres from the binaries of an npm package, with its data in `dataDir/postgres`
 * (kept between runs) and its log in `dataDir/postgres.log`, and creates `database` in it.
 * The server listens on 127.0.0.1 only and asks for a password.
 */
export async function startEmbeddedPostgres (options: {
  dataDir: string
  port: number
  database: string
  log: (line: string) => void
  /** The npm package with the binaries; this platform's by default. */
  pkg?: string
}): Promise<EmbeddedPostgres> {
  const { dataDir, port, database, log } = options
  const runtime = await postgresRuntime(log, options.pkg)
  let server: OwnedProcess | undefined
  try {
    const pgdata = await dataDirectory(runtime, dataDir, log)
    const logFile = join(dataDir, 'postgres.log')
    if (!existsSync(join(pgdata, 'PG_VERSION'))) await initdb(runtime, pgdata, logFile)
    server = await asUser(runtime, logFile, (options) =>
      spawnOwned(runtime.postgres, [
        '-D', pgdata, '-p', String(port),
        '-c', 'listen_addresses=127.0.0.1',
        // TCP only: no socket file left in /tmp, none shared with another Postgres.
        '-c', 'unix_socket_directories=',
      ], 'SIGINT', options)
    )
    await createDatabase(server, port, database, logFile)
  } catch (err) {
    await server?.stop()
    await runtime.dispose()
    throw err
  }
  const started = server
  return {
    url: `postgres://${USER}:${PASSWORD}@127.0.0.1:${port}/${database}`,
    pid: started.pid,
    async stop () {
      // SIGINT is Postgres's fast shutdown: the service's own clients are closed by now.
      await started.stop()
      await runtime.dispose()
    },
  }
}

/**
 * Where the cluster's data lives: `dataDir/postgres`, unless the user who runs Postgres cannot
 * enter `dataDir`; then a directory of this run's own, removed on exit (and the log says so).
 */
async function dataDirectory (runtime: PostgresRuntime, dataDir: string, log: (line: string) => void): Promise<string> {
  await mkdir(dataDir, { recursive: true })
  if (runtime.canEnter(dataDir)) return join(dataDir, 'postgres')
  const pgdata = join(runtime.scratch, 'data')
  log(
    `user ${runtime.user!.name}, who runs the embedded Postgres, cannot enter ${dataDir} (a parent directory is private): ` +
      `this run keeps its data in ${pgdata} and removes it on exit; to keep data, clone outside a private directory or set DATABASE_URL`
  )
  return pgdata
}

/** Once the server answers, creates `database` in it unless it exists. */
async function createDatabase (server: OwnedProcess, port: number, database: string, logFile: string): Promise<void> {
  const admin = postgres({
    host: '127.0.0.1',
    port,
    user: USER,
    password: PASSWORD,
    database: 'postgres',
    max: 1,
    connect_timeout: 2,
    onnotice: () => {},
  })
  try {
    await waitReady(server, async () => (await admin`SELECT 1 AS ok`).length === 1, 'the embedded Postgres', logFile)
    const [exists] = await admin`SELECT 1 FROM pg_database WHERE datname = ${database}`
    if (!exists) await admin.unsafe(`CREATE DATABASE ${database}`)
  } finally {
    await admin.end({ timeout: 1 })
  }
}

async function initdb (runtime: PostgresRuntime, pgdata: string, logFile: string): Promise<void> {
  await mkdir(pgdata, { recursive: true, mode: 0o700 })
  const pwfile = join(runtime.scratch, 'password')
  await writeFile(pwfile, `${PASSWORD}\n`, { mode: 0o600 })
  if (runtime.user) {
    await chown(pgdata, runtime.user.uid, runtime.user.gid)
    await chown(pwfile, runtime.user.uid, runtime.user.gid)
  }
  try {
    const proc = await asUser(runtime, logFile, (options) =>
      spawnOwned(runtime.initdb, [
        '-D', pgdata, '-U', USER, `--pwfile=${pwfile}`, '--auth=scram-sha-256',
        '--no-locale', '--encoding=UTF8', '--no-instructions',
      ], 'SIGTERM', options)
    )
    const code = await proc.exited
    if (code !== 0) throw new Error(`initdb exited with code ${code}: ${await lastLines(logFile)}`)
  } finally {
    await rm(pwfile, { force: true })
  }
}

/**
 * Runs a Postgres program as the runtime's user, its output appended to `logFile`. The log is
 * opened here, so it may sit where that user cannot go.
 */
async function asUser<T> (
  runtime: PostgresRuntime,
  logFile: string,
  run: (options: Parameters<typeof spawnOwned>[3]) => Promise<T>
): Promise<T> {
  const out = openSync(logFile, 'a')
  try {
    return await run({
      stdio: ['ignore', out, out],
      cwd: '/',
      // Messages in English whatever the machine's locale: they end up in error messages here.
      env: { ...process.env, LC_ALL: 'C' },
      ...(runtime.user ? { uid: runtime.user.uid, gid: runtime.user.gid } : {}),
    })
  } finally {
    closeSync(out)
  }
}
