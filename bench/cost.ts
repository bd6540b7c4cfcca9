import { readFileSync } from 'node:fs'
import { Redis } from 'ioredis'
import postgres from 'postgres'

/** CPU time of each process behind a phase, in µs per request served. */
export interface CostPerRequest {
  service_us: number
  redis_us: number
  postgres_us: number
  all_us: number
}

export interface CostSources {
  /** The process serving the requests (the service, or a floor's server). */
  servicePid: number
  /** The Redis it uses: its CPU time comes from INFO cpu (every thread). */
  redisUrl?: string
  /** The database it uses: the CPU time of the backends connected to it, from /proc. */
  databaseUrl?: string
}

const round = (n: number) => Math.round(n * 10) / 10

/** utime + stime of a process, every thread, in seconds; 0 once it is gone. */
export function processSeconds (pid: number): number {
  try {
    // Fields after the command (which may hold spaces): utime and stime are the 12th and 13th,
    // in clock ticks of 1/100 s (USER_HZ).
    const after = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')
    return (Number(after[11]) + Number(after[12])) / 100
  } catch {
    return 0
  }
}

async function redisSeconds (redis: Redis): Promise<number> {
  const info = await redis.info('cpu')
  const field = (name: string) => Number(new RegExp(`^${name}:([\\d.]+)`, 'm').exec(info)?.[1] ?? NaN)
  return field('used_cpu_user') + field('used_cpu_sys')
}

/** Calls and µs spent by each Redis command over a phase, per request served. */
export type RedisCommandCosts = Record<string, { calls: number; us: number }>

type CommandStats = Map<string, { calls: number; usec: number }>

/**
 * INFO commandstats: the calls and time of every command, those a script runs counted under their
 * own names (so `evalsha` holds the whole script, the commands it ran included).
 */
async function commandStats (redis: Redis): Promise<CommandStats> {
  const out: CommandStats = new Map()
  for (const m of (await redis.info('commandstats')).matchAll(/^cmdstat_([^:]+):calls=(\d+),usec=(\d+)/gm)) {
    out.set(m[1]!, { calls: Number(m[2]), usec: Number(m[3]) })
  }
  return out
}

/** What each command did between two reads, per request, busiest first; INFO itself left out. */
function commandsPerRequest (before: CommandStats, after: CommandStats, requests: number): RedisCommandCosts {
  const rows: [string, { calls: number; us: number }][] = []
  for (const [name, a] of after) {
    const b = before.get(name) ?? { calls: 0, usec: 0 }
    if (name === 'info' || a.calls === b.calls) continue
    rows.push([name, { calls: Math.round(((a.calls - b.calls) / requests) * 100) / 100, us: round((a.usec - b.usec) / requests) }])
  }
  return Object.fromEntries(rows.sort((x, y) => y[1].us - x[1].us))
}

/** CPU seconds of every backend connected to the database, by pid. */
async function backendSeconds (sql: postgres.Sql): Promise<Map<number, number>> {
  const rows = await sql<{ pid: number }[]>`
    SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()`
  return new Map(rows.map((r) => [r.pid, processSeconds(r.pid)]))
}

/**
 * Starts counting the CPU time of the service, its Redis and its Postgres backends; `perRequest`
 * divides what each spent since by the requests served. A backend that connected meanwhile counts
 * whole; one that closed meanwhile is lost (the service's pool keeps its connections under load).
 * Redis and Postgres count everything they did, background work included (the attempt drain, the
 * sweep, WAL writes done by the backends), and whatever else used them meanwhile.
 */
export async function costMeter (sources: CostSources) {
  const redis = sources.redisUrl ? new Redis(sources.redisUrl, { lazyConnect: true }) : undefined
  const sql = sources.databaseUrl ? postgres(sources.databaseUrl, { max: 1, onnotice: () => {} }) : undefined
  const service = processSeconds(sources.servicePid)
  const redisStart = redis ? await redisSeconds(redis) : 0
  const commandsStart = redis ? await commandStats(redis) : new Map()
  const backendsStart = sql ? await backendSeconds(sql) : new Map<number, number>()
  return {
    /** The Redis commands of the phase, per request (empty without a Redis); read before perRequest. */
    async redisCommands (requests: number): Promise<RedisCommandCosts> {
      return redis ? commandsPerRequest(commandsStart, await commandStats(redis), requests) : {}
    },
    async perRequest (requests: number): Promise<CostPerRequest> {
      try {
        const serviceSpent = processSeconds(sources.servicePid) - service
        const redisSpent = redis ? (await redisSeconds(redis)) - redisStart : 0
        let postgresSpent = 0
        if (sql) for (const [pid, seconds] of await backendSeconds(sql)) postgresSpent += seconds - (backendsStart.get(pid) ?? 0)
        const us = (seconds: number) => round((seconds * 1e6) / requests)
        return {
          service_us: us(serviceSpent),
          redis_us: us(redisSpent),
          postgres_us: us(postgresSpent),
          all_us: us(serviceSpent + redisSpent + postgresSpent),
        }
      } finally {
        redis?.disconnect()
        await sql?.end()
      }
    },
  }
}

/** The cost of one checkout and one purchase together, process by process. */
export function sumCosts (a: CostPerRequest, b: CostPerRequest): CostPerRequest {
  return {
    service_us: round(a.service_us + b.service_us),
    redis_us: round(a.redis_us + b.redis_us),
    postgres_us: round(a.postgres_us + b.postgres_us),
    all_us: round(a.all_us + b.all_us),
  }
}
