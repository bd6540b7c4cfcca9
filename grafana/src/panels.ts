import type { Builder, Dataquery } from '@grafana/grafana-foundation-sdk/cog'
import {
  DashboardBuilder, DatasourceVariableBuilder, QueryVariableBuilder, RowBuilder, VariableRefresh, VariableSort,
  type DataSourceRef,
} from '@grafana/grafana-foundation-sdk/dashboard'
import { DataqueryBuilder } from '@grafana/grafana-foundation-sdk/prometheus'
import { PanelBuilder as StatPanel } from '@grafana/grafana-foundation-sdk/stat'
import { PanelBuilder as TimeseriesPanel } from '@grafana/grafana-foundation-sdk/timeseries'

/** Every panel reads the Prometheus chosen in the dashboard's `datasource` variable. */
// Grafana's own variable syntax, not a template literal.
export const DATASOURCE: DataSourceRef = { type: 'prometheus', uid: '$' + '{datasource}' }

/** The label matchers every query carries, so the job and instance variables filter all panels. */
export const SEL = 'job=~"$job", instance=~"$instance"'

/** A Prometheus query with its legend. */
export function q (expr: string, legend = '__auto'): Builder<Dataquery> {
  return new DataqueryBuilder().expr(expr).legendFormat(legend).datasource(DATASOURCE)
}

/** A query whose exemplars (trace ids) Grafana shows as points linking to the trace. */
export function qx (expr: string, legend = '__auto'): Builder<Dataquery> {
  return new DataqueryBuilder().expr(expr).legendFormat(legend).datasource(DATASOURCE).exemplar(true)
}

/** histogram_quantile of a latency histogram, summed by `by`. */
export function quantile (metric: string, quantile: number, by: string, extra = ''): string {
  const matchers = extra ? `${SEL}, ${extra}` : SEL
  return `histogram_quantile(${quantile}, sum by (${by}, le) (rate(${metric}_bucket{${matchers}}[$__rate_interval])))`
}

export function timeseries (title: string, description: string, unit: string, targets: Builder<Dataquery>[], width = 12) {
  return new TimeseriesPanel()
    .title(title).description(description).unit(unit).datasource(DATASOURCE)
    .targets(targets).span(width).height(8).fillOpacity(10).lineWidth(1)
}

export function stat (title: string, description: string, unit: string, target: Builder<Dataquery>, width = 6) {
  return new StatPanel().title(title).description(description).unit(unit).datasource(DATASOURCE)
    .withTarget(target).span(width).height(4)
}

export const row = (title: string) => new RowBuilder(title)

/** A multi-select variable with All (any value) from label_values(query). */
export function labelVariable (name: string, label: string, query: string) {
  return new QueryVariableBuilder(name).label(label).datasource(DATASOURCE).query(query).definition(query)
    .refresh(VariableRefresh.OnTimeRangeChanged).sort(VariableSort.AlphabeticalAsc)
    .multi(true).includeAll(true).allValue('.+')
}

/**
 * A dashboard with the datasource, job and instance variables, tagged and refreshed like the rest.
 * Without `instance` (the SLOs are the service's, not an instance's), only datasource and job.
 */
export function dashboard (uid: string, title: string, description: string, { instance = true } = {}): DashboardBuilder {
  const d = new DashboardBuilder(title)
    .uid(uid).description(description).tags(['flashsale'])
    .editable().refresh('30s').time({ from: 'now-1h', to: 'now' }).timezone('browser')
    .withVariable(new DatasourceVariableBuilder('datasource').label('Data source').type('prometheus'))
    .withVariable(labelVariable('job', 'Job', 'label_values(flashsale_sale_active, job)'))
  return instance ? d.withVariable(labelVariable('instance', 'Instance', 'label_values(flashsale_sale_active{job=~"$job"}, instance)')) : d
}
