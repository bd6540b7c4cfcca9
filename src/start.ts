import { runService } from './run-service.js'

/** `npm start`: see runService. */
await runService(process.env)
