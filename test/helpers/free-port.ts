import { once } from 'node:events'
import { createServer } from 'node:net'

/**
 * A port nothing listens on right now on the loopback interface, picked by the kernel: for a
 * server that must be told its port (redis-server, an embedded Postgres). Servers of our own
 * listen on port 0 instead and say which port they got.
 */
export async function freePort (): Promise<number> {
  const server = createServer()
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as { port: number }
  server.close()
  await once(server, 'close')
  return port
}
