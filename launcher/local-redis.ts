import { mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import { spawnOwned, waitReady } from './owned-process.ts'

export interface LocalRedis {
  url: string
  pid: number
  stop(): Promise<void>
}

/**
 * Starts `redis-server` from the PATH on 127.0.0.1:`port`, with its append-only file and its log
 * in `dir` (kept between runs).
 */
export async function startLocalRedis (
  dir: string,
  port: number,
  answers: (host: string, port: number) => Promise<boolean>
): Promise<LocalRedis> {
  await mkdir(dir, { recursive: true })
  const logFile = join(dir, 'redis.log')
  const server = await spawnOwned('redis-server', [
    '--port', String(port), '--bind', '127.0.0.1', '--dir', dir,
    '--appendonly', 'yes', '--save', '', '--logfile', logFile,
  ], 'SIGTERM', { stdio: 'ignore' })
  try {
    await waitReady(server, () => answers('127.0.0.1', port), 'redis-server', logFile, 10_000)
  } catch (err) {
    await server.stop()
    throw err
  }
  return { url: `redis://127.0.0.1:${port}`, pid: server.pid, stop: () => server.stop() }
}
