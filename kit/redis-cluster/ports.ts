import { createServer, type Server } from 'node:net'
import { HOST } from './poll.ts'

/** A node's cluster bus listens on its port + 10000. */
const BUS_OFFSET = 10_000

function listen (port: number): Promise<Server | undefined> {
  return new Promise((resolve) => {
    const server = createServer()
    server.once('error', () => resolve(undefined))
    server.listen(port, HOST, () => resolve(server))
  })
}

/**
 * `count` ports picked by the kernel whose cluster bus port (+10000) is free as well. Every
 * candidate stays bound until all are picked, so no two nodes get the same port or one node's
 * port is another's bus port.
 */
export async function clusterPorts (count: number): Promise<number[]> {
  const held: Server[] = []
  const ports: number[] = []
  try {
    for (let attempt = 0; ports.length < count; attempt++) {
      if (attempt > 1000) throw new Error(`found no ${count} free port pairs (port, port + ${BUS_OFFSET})`)
      const server = await listen(0)
      if (!server) continue
      held.push(server)
      const port = (server.address() as { port: number }).port
      if (port + BUS_OFFSET > 65535) continue
      const bus = await listen(port + BUS_OFFSET)
      if (!bus) continue
      held.push(bus)
      ports.push(port)
    }
  } finally {
    await Promise.all(held.map((s) => new Promise((resolve) => s.close(resolve))))
  }
  return ports
}
