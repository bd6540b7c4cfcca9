import type { Cluster, Redis } from 'ioredis'

/** A client of the data's Redis: one server, or a cluster (REDIS_CLUSTER_NODES). */
export type RedisClient = Redis | Cluster
