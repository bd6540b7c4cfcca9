/**
 * Runs a task every `intervalMs`, never two at once. `stop()` waits for a running task and
 * wakes a sleeping ticker at once, so closing the app never waits out an interval.
 */
export class Ticker {
  private timer: NodeJS.Timeout | undefined
  private running: Promise<void> | undefined
  private stopped = false

  private readonly intervalMs: number
  private readonly task: () => Promise<void>
  private readonly onError: (err: unknown) => void

  constructor (intervalMs: number, task: () => Promise<void>, onError: (err: unknown) => void) {
    this.intervalMs = intervalMs
    this.task = task
    this.onError = onError
  }

  start (): this {
    this.schedule(0)
    return this
  }

  /** Runs the task now (after any run in progress) and resolves when it is done. */
  async runNow (): Promise<void> {
    await this.running
    await this.run()
  }

  async stop (): Promise<void> {
    this.stopped = true
    clearTimeout(this.timer)
    await this.running
  }

  private schedule (delay: number) {
    if (this.stopped) return
    this.timer = setTimeout(() => {
      void this.run().then(() => this.schedule(this.intervalMs))
    }, delay)
    this.timer.unref()
  }

  private run (): Promise<void> {
    this.running = this.task().catch(this.onError).finally(() => (this.running = undefined))
    return this.running
  }
}
