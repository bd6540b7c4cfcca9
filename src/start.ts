import { exitWith, prepare } from './prepare.js'
import { serve } from './server.js'

/**
 * `npm start`: starts what a newcomer's machine lacks (Postgres, Redis) when no URL is given,
 * applies pending migrations, then serves until SIGTERM. What was started here stops with it.
 */
const { config, local } = await prepare(process.env).catch(exitWith('flashsale start'))
await serve(config, local.stop).catch(async (err) => {
  await local.stop()
  exitWith('flashsale start')(err)
})
