import type postgres from 'postgres'
import type { Test } from 'tap'
import { createSale } from '../../kit/operator-client.ts'
import type { SaleKeys } from '../../src/sale/keys.ts'
import { eventually } from './eventually.ts'
import { httpClient, type Call } from './http-client.ts'
import { startRedis, type RedisNode } from './redis-server.ts'
import { keysOfSale, reservationStates, type ReservationStates } from './sale-state.ts'
import { ADMIN, startService, type Service } from '../../kit/service-process.ts'
import { testDatabase } from './services.ts'
import { startProxy, type Proxy } from '../../kit/tcp-proxy.ts'

export interface FaultOptions {
  /** The service's environment on top of the set-up's own (DATABASE_URL, REDIS_URL). */
  env?: Record<string, string>
  /** Connections of the HTTP client's pool. */
  connections?: number
}

export interface Instance {
  service: Service
  call: Call
}

export interface FaultSetup extends Instance {
  /** The test's own database, and a connection of the test's own to it (two connections). */
  db: { url: string; sql: postgres.Sql }
  /** The service's Redis: a redis-server of the test's own. */
  redis: RedisNode
  /** Between the service and Postgres, passing everything through until told otherwise. */
  proxy: Proxy
  /** Another instance of the service: the same environment, with `env` on top. */
  startInstance(env?: Record<string, string>): Promise<Instance>
  /** Creates a sale that starts now through the first instance's operator API. */
  createSale(body: Record<string, unknown>): Promise<number>
  keys(saleId: number): Promise<SaleKeys>
  /** Reservation states of a sale in its Redis (see reservationStates). */
  states(saleId: number): Promise<ReservationStates>
  /** Polls the first instance's /health until it answers `status`: its body, and how long that took. */
  healthTurns(status: number, timeoutMs?: number): Promise<{ body: any; ms: number }>
}

/**
 * What a fault test stands on: a database, a redis-server and a Postgres proxy of its own, the
 * service as a real process reaching Postgres through the proxy, and an HTTP client to it. All
 * of it is gone at teardown.
 */
export async function faultSetup (t: Test, { env = {}, connections }: FaultOptions = {}): Promise<FaultSetup> {
  const db = await testDatabase(t, 2)
  const redis = await startRedis(t)
  const proxy = await startProxy(t, db.url)
  const serviceEnv = { DATABASE_URL: proxy.via(db.url), REDIS_URL: redis.url, ...env }
  const startInstance = async (more: Record<string, string> = {}): Promise<Instance> => {
    const service = await startService(t, { ...serviceEnv, ...more })
    return { service, call: httpClient(t, service.base, connections) }
  }
  const first = await startInstance()
  const keys = (saleId: number) => keysOfSale(db.sql, saleId)
  return {
    ...first,
    db,
    redis,
    proxy,
    startInstance,
    createSale: (body) => createSale(first.call, ADMIN, body),
    keys,
    states: async (saleId) => reservationStates(redis.client, (await keys(saleId)).res),
    async healthTurns (status, timeoutMs = 10_000) {
      const since = Date.now()
      const health = await eventually(`/health ${status}`, async () => {
        const h = await first.call('GET', '/health')
        return h.status === status ? h : undefined
      }, timeoutMs)
      return { body: health.body, ms: Date.now() - since }
    },
  }
}
