/**
 * For a server the benchmark runs in a child process (processes.ts): tells the benchmark where
 * it listens, and shuts down (SIGTERM, as the benchmark itself would) when the benchmark is gone,
 * however it went, instead of outliving it. The IPC channel stays open but unreferenced, so it
 * keeps no process alive.
 */
export function listeningFor (origin: string) {
  process.send?.({ listening: origin })
  process.channel?.unref()
  process.once('disconnect', () => process.kill(process.pid, 'SIGTERM'))
}
