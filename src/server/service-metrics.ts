/**
 * The service's metrics: what it counts as it works, and what it reads from the stores when
 * /metrics is scraped (docs/OPERATIONS.md lists them).
 */
import type { TapioStorage } from '../storage.js';
import { Counter, gaugeLines, Histogram, histogramLines, LATENCY_BUCKETS } from './metrics.js';

export class ServiceMetrics {
  readonly requests = new Counter('tapio_http_requests_total', 'HTTP requests answered, by route kind and status.');
  readonly requestLatency = new Histogram('tapio_http_request_seconds', 'HTTP request latency, by route kind.', LATENCY_BUCKETS);
  readonly ingestRecords = new Counter('tapio_ingest_records_total', 'Events acknowledged through POST /v1/events.');
  readonly ingestBytes = new Counter('tapio_ingest_bytes_total', 'Bytes of the events acknowledged through POST /v1/events.');
  readonly appendAck = new Histogram(
    'tapio_append_ack_seconds',
    'From handing a request’s events to the transit WAL to their durability (fdatasync).',
    LATENCY_BUCKETS,
  );
  readonly queryLatency = new Histogram('tapio_query_seconds', 'Query latency by kind: query, similar, aggregate, explain.', LATENCY_BUCKETS);
  readonly authFailures = new Counter('tapio_auth_failures_total', 'Requests refused by authentication or authorisation, by reason.');
  readonly rejected = new Counter('tapio_rejected_total', 'Requests refused for load, by reason: inflight, ring_full, timeout.');
  readonly pipelineEvents = new Counter('tapio_pipeline_events_total', 'Events the correlation pipeline has read.');
  readonly pipelineFindings = new Counter('tapio_pipeline_findings_total', 'Findings the correlation pipeline has stored.');

  /** The metrics text: the service's own series and the stores' figures now. */
  render(storage: TapioStorage, extra: { inflight: number; pipelineLag: number | null }): string {
    const t = storage.transit.stats();
    const c = storage.correlations.stats();
    const lines: string[] = [
      ...this.requests.render(),
      ...this.requestLatency.render(),
      ...this.ingestRecords.render(),
      ...this.ingestBytes.render(),
      ...this.appendAck.render(),
      ...this.queryLatency.render(),
      ...this.authFailures.render(),
      ...this.rejected.render(),
      ...this.pipelineEvents.render(),
      ...this.pipelineFindings.render(),
      ...gaugeLines('tapio_http_inflight', 'HTTP requests in progress.', [[{}, extra.inflight]]),
      ...gaugeLines('tapio_transit_records_total', 'Records made durable by the transit WAL since the store opened.', [[{}, t.records]], 'counter'),
      ...gaugeLines('tapio_transit_bytes_total', 'Payload bytes made durable by the transit WAL since the store opened.', [[{}, t.bytes]], 'counter'),
      ...gaugeLines('tapio_transit_groups_total', 'Group commits (one write and one fdatasync each).', [[{}, t.groups]], 'counter'),
      ...gaugeLines('tapio_transit_last_seq', 'The newest durable sequence number of the transit WAL.', [[{}, t.durableSeq]]),
      ...gaugeLines('tapio_transit_ring_fill_ratio', 'How full the transit ring buffer is (0 to 1).', [
        [{}, t.ringCapacity === 0 ? 0 : t.ringUsedBytes / t.ringCapacity],
      ]),
      `# HELP tapio_transit_fdatasync_seconds fdatasync latency of the transit WAL.`,
      `# TYPE tapio_transit_fdatasync_seconds histogram`,
      ...syncHistogram(t.syncLatencyUs),
      ...gaugeLines(
        'tapio_correlations_segments',
        'Correlation segments per level.',
        c.levels.map((l) => [{ level: String(l.level) }, l.segments]),
      ),
      ...gaugeLines(
        'tapio_correlations_bytes',
        'Bytes of correlation segments (Parquet and embedding side files) per level.',
        c.levels.map((l) => [{ level: String(l.level) }, l.bytes + l.embeddingBytes]),
      ),
      ...gaugeLines('tapio_correlations_rows', 'Findings stored, in segments and in memory.', [[{}, c.rows]]),
      ...gaugeLines('tapio_correlations_active_rows', 'Findings in the active part (not yet in a segment).', [[{}, c.activeRows]]),
      ...gaugeLines('tapio_correlations_compactions_total', 'Compactions completed since the store was created.', [[{}, c.compactions]], 'counter'),
      ...gaugeLines('tapio_correlations_flushes_total', 'Flushes since the store opened.', [[{}, c.flushes]], 'counter'),
    ];
    if (extra.pipelineLag !== null)
      lines.push(...gaugeLines('tapio_pipeline_lag_events', 'Durable events the correlation pipeline has not read yet.', [[{}, extra.pipelineLag]]));
    return `${lines.join('\n')}\n`;
  }
}

/** The transit's fdatasync histogram (counts per bound in microseconds) in seconds. */
function syncHistogram(buckets: ReadonlyArray<{ le: number; count: number }>): string[] {
  const finite = buckets.filter((b) => Number.isFinite(b.le));
  const total = buckets.reduce((n, b) => n + b.count, 0);
  const sumEstimate = buckets.reduce((n, b) => n + b.count * (Number.isFinite(b.le) ? b.le : 0), 0) / 1e6;
  return histogramLines(
    'tapio_transit_fdatasync_seconds',
    {},
    finite.map((b) => b.le / 1e6),
    finite.map((b) => b.count),
    sumEstimate,
    total,
  );
}
