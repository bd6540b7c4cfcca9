import fp from 'fastify-plugin'
import type { Config } from '../../config.ts'

declare module 'fastify' {
  interface FastifyInstance {
    config: Config
  }
}

/** Decorates the validated configuration; the environment itself is read only in src/config.ts. */
export default fp<{ config: Config }>(
  async function configPlugin (fastify, { config }) {
    fastify.decorate('config', Object.freeze({ ...config }))
  },
  { name: 'config', fastify: '5.x' }
)
