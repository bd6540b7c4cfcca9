import pino from 'pino'

/**
 * Where the service logs: stdout. When stdout is a terminal that has been closed (which is also
 * what sends the service SIGHUP), every write fails with EIO; a failed log write is otherwise an
 * uncaught error, and pino's flush at exit retries it forever. Logging goes quiet instead, so the
 * shutdown that follows still drains and stops what the service started. Writes are synchronous
 * so that nothing is left to flush at exit.
 */
export function stdoutLog (): pino.DestinationStream {
  const destination = pino.destination({ fd: 1, sync: true })
  destination.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EIO' && err.code !== 'EPIPE') throw err
    const quiet = () => true
    Object.assign(destination, { write: quiet, flushSync: () => {}, end: () => {}, destroy: () => {} })
  })
  return destination
}
