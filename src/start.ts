import { runService } from './run-service.ts'

/** `npm start`: see runService. */
await runService(process.env)
