import { loadConfig } from '../src/config.ts'
import { serve } from '../src/server.ts'
import { listeningFor } from './child.ts'

/**
 * The service as the benchmark runs it: configured from the environment like `npm start`, on a
 * database the benchmark has already migrated. serve() handles SIGTERM (and so a clean exit,
 * which --cpu-prof needs to write its profile). The benchmark learns where it listens (the
 * kernel picks the port) from its message.
 */
const { fastify } = await serve(loadConfig(process.env))
listeningFor(fastify.listeningOrigin)
