import { dashboard, q, quantile, row, SEL, timeseries } from './panels.ts'

/** Redis and Postgres as the service sees them: reachability, latency by command and query, errors. */
export function dependencies () {
  return dashboard('flashsale-dependencies', 'Flashsale / Dependencies',
    'Redis and Postgres from the service\'s side: health pings, command and query latency, errors, pool.')
    .withRow(row('Reachability'))
    .withPanel(timeseries('Dependency up', '1 when the last health ping answered in time.', 'short', [
      q(`min by (dependency) (flashsale_dependency_up{${SEL}})`, '{{dependency}}'),
    ], 8))
    .withPanel(timeseries('Ping latency', 'Latency of the last health ping, per dependency.', 's', [
      q(`max by (dependency) (flashsale_dependency_ping_seconds{${SEL}})`, '{{dependency}}'),
    ], 8))
    .withPanel(timeseries('Scrape up', 'Whether Prometheus could scrape each instance.', 'short', [
      q(`up{${SEL}}`, '{{instance}}'),
    ], 8))
    .withRow(row('Redis'))
    .withPanel(timeseries('Redis commands', 'Redis commands and Lua scripts per second, by name.', 'ops', [
      q(`sum by (command) (rate(flashsale_redis_command_duration_seconds_count{${SEL}}[$__rate_interval]))`, '{{command}}'),
    ], 8))
    .withPanel(timeseries('Redis latency p50 / p99', 'Latency of Redis commands and Lua scripts, by name.', 's', [
      q(quantile('flashsale_redis_command_duration_seconds', 0.5, 'command'), 'p50 {{command}}'),
      q(quantile('flashsale_redis_command_duration_seconds', 0.99, 'command'), 'p99 {{command}}'),
    ], 8))
    .withPanel(timeseries('Redis errors', 'Redis commands that failed, by name.', 'ops', [
      q(`sum by (command) (rate(flashsale_redis_errors_total{${SEL}}[$__rate_interval]))`, '{{command}}'),
    ], 8))
    .withRow(row('Postgres'))
    .withPanel(timeseries('Postgres queries', 'Queries per second, by query name.', 'ops', [
      q(`sum by (query) (rate(flashsale_db_query_duration_seconds_count{${SEL}}[$__rate_interval]))`, '{{query}}'),
    ], 8))
    .withPanel(timeseries('Postgres latency p50 / p99', 'Query latency by query name.', 's', [
      q(quantile('flashsale_db_query_duration_seconds', 0.5, 'query'), 'p50 {{query}}'),
      q(quantile('flashsale_db_query_duration_seconds', 0.99, 'query'), 'p99 {{query}}'),
    ], 8))
    .withPanel(timeseries('Postgres errors', 'Queries that failed, by query name.', 'ops', [
      q(`sum by (query) (rate(flashsale_db_errors_total{${SEL}}[$__rate_interval]))`, '{{query}}'),
    ], 8))
    .withPanel(timeseries('Postgres pool', 'Pool connections by state.', 'short', [
      q(`sum by (state) (flashsale_db_pool_connections{${SEL}})`, '{{state}}'),
    ], 24))
}
