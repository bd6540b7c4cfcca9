/**
 * Where the domain marks its own steps in a request's trace: the tracing plugin implements it
 * when tracing is on; otherwise every step just runs (nothing of OpenTelemetry is loaded).
 */

/** A place in a trace (the active span where work was asked for); opaque to the domain. */
export type SpanOrigin = unknown

export interface Spans {
  /** Runs `run` in a span of its own: a child of the active span, or the root of a new trace. */
  span<T>(name: string, run: () => Promise<T>): Promise<T>
  /** The active place in the trace, for work done later on its behalf (a batch). */
  origin(): SpanOrigin
  /**
   * Runs `run` in one span for work done on behalf of several origins at once (a commit batch):
   * a child of the first traced origin, linked to the other traced ones, so each request's
   * trace leads to it.
   */
  batch<T>(name: string, origins: readonly SpanOrigin[], run: () => Promise<T>): Promise<T>
}

/** Spans that record nothing: the domain's steps just run. */
export const untraced: Spans = {
  span: (_name, run) => run(),
  origin: () => undefined,
  batch: (_name, _origins, run) => run(),
}
