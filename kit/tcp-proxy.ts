import { once } from 'node:events'
import { createServer, connect, type Server, type Socket } from 'node:net'
import type { Test } from 'tap'

/**
 * A TCP proxy the test controls, standing between the service and Postgres: `cut()` drops every
 * connection and refuses new ones, `restore()` lets them through again, and `latencyMs` holds
 * every chunk from the client that long (a slow database).
 */
export interface Proxy {
  port: number
  latencyMs: number
  cut(): Promise<void>
  restore(): Promise<void>
  /** Holds every chunk from clients until release(): a database that stops answering. */
  hold(): void
  release(): void
  /** Holds every answer of the database this long: it has done the work, the client hears later. */
  replyLatencyMs: number
  /** `url` with the proxy in place of its host and port. */
  via(url: string): string
}

interface Relaying {
  target: URL
  proxy: Proxy
  sockets: Set<Socket>
  /** Chunks from clients held back by hold(), until release(). */
  held: (() => void)[] | undefined
}

/** One client's connection, relayed to the target with the proxy's latencies (or held). */
function relay (client: Socket, state: Relaying): void {
  const { target, proxy, sockets } = state
  const upstream = connect(Number(target.port || 5432), target.hostname)
  sockets.add(client).add(upstream)
  const drop = () => {
    client.destroy()
    upstream.destroy()
    sockets.delete(client)
    sockets.delete(upstream)
  }
  client.on('error', drop).on('close', drop)
  upstream.on('error', drop).on('close', drop)
  client.on('data', (chunk) => {
    const send = () => { upstream.write(chunk) }
    if (state.held) state.held.push(send)
    else if (proxy.latencyMs === 0) send()
    else setTimeout(send, proxy.latencyMs)
  })
  upstream.on('data', (chunk) => {
    if (proxy.replyLatencyMs === 0) client.write(chunk)
    else setTimeout(() => client.write(chunk), proxy.replyLatencyMs)
  })
}

/** A proxy to the host and port of `targetUrl`, listening on a port of its own until teardown. */
export async function startProxy (t: Test, targetUrl: string): Promise<Proxy> {
  let server: Server | undefined
  let port = 0
  const proxy: Proxy = {
    get port () { return port },
    latencyMs: 0,
    replyLatencyMs: 0,
    hold () {
      state.held ??= []
    },
    release () {
      const pending = state.held ?? []
      state.held = undefined
      for (const send of pending) send()
    },
    async restore () {
      if (server) return
      state.held = undefined
      proxy.replyLatencyMs = 0
      server = createServer((client) => relay(client, state))
      // The first time the kernel picks the port; after a cut, the same one again.
      server.listen(port, '127.0.0.1')
      await once(server, 'listening')
      port = (server.address() as { port: number }).port
    },
    async cut () {
      const s = server
      server = undefined
      if (!s) return
      const closed = once(s, 'close')
      s.close()
      for (const sock of state.sockets) sock.destroy()
      state.sockets.clear()
      await closed
    },
    via (url) {
      const u = new URL(url)
      u.host = `127.0.0.1:${port}`
      return u.href
    },
  }
  const state: Relaying = { target: new URL(targetUrl), proxy, sockets: new Set(), held: undefined }
  await proxy.restore()
  t.teardown(() => proxy.cut())
  return proxy
}
