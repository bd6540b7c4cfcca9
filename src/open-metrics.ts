import client from '@platformatic/prom-client'

/**
 * The OpenMetrics exposition, which Prometheus asks for first (`Accept:
 * application/openmetrics-text`): the same series as the text format, plus the histograms'
 * exemplars (a trace id per bucket, when tracing is on). The text format stays as it was.
 */
export const OPENMETRICS_CONTENT_TYPE = client.Registry.OPENMETRICS_CONTENT_TYPE

export function wantsOpenMetrics (accept: string | undefined): boolean {
  return accept !== undefined && accept.includes('application/openmetrics-text')
}

/** What a registry holds, as its renderer reads it. */
interface Metric { name: string; type?: string; get(): unknown }

/**
 * Renders `registry` as OpenMetrics. prom-client renames a counter in place (drops `_total`)
 * when it renders OpenMetrics, which the text format would then show: counters are rendered
 * through a view of their own, and the registry's metrics are never touched.
 */
export async function openMetrics (registry: client.Registry): Promise<string> {
  const view = new client.Registry<client.OpenMetricsContentType>()
  view.setContentType(OPENMETRICS_CONTENT_TYPE)
  const register = (metric: Metric) => view.registerMetric(metric as unknown as client.Metric)
  for (const metric of registry.getMetricsAsArray() as unknown as Metric[]) {
    if (metric.type !== 'counter') {
      register(metric)
      continue
    }
    const name = metric.name.replace(/_total$/, '')
    register({ name, type: 'counter', get: async () => ({ ...(await metric.get() as object), name }) })
  }
  return view.metrics()
}
