/**
 * tapio-storage: embedded storage for Kubernetes observability data.
 *
 * @example
 * ```ts
 * import { TapioStorage, capabilities } from 'tapio-storage';
 * console.log(capabilities());
 * const storage = await TapioStorage.open({ dataDir: './data' });
 * await storage.close();
 * ```
 */
export { TapioStorage, type OpenOptions } from './storage.js';
export { capabilities, type Capabilities } from './capabilities.js';
export { TapioError, ERROR_CODES, isTapioError, type TapioErrorCode, type TapioErrorDetails } from './errors.js';
export { crc32c } from './crc32c.js';
export * from './config/index.js';
export * from './metadata/index.js';
export {
  attachProducer,
  transferList,
  Transit,
  type ProducerHandle,
  type TransitProducer,
  type ReadOptions,
  type Subscription,
  type SubscribeOptions,
  type SubscriptionState,
  type SubscriptionStats,
  type TransitRecord,
  type TransitRecordInput,
  type TransitStats,
  type AppendResult,
  type RecoveryReport,
  probeSync,
  SYNC_PROBE_MODES,
  type SyncProbeMode,
  type SyncProbeOptions,
  type SyncProbeResult,
} from './transit/index.js';
export {
  Correlations,
  type CorrelationInput,
  type CorrelationRecord,
  type CorrelationField,
  type CorrelationQuery,
  type CorrelationStats,
  type CorrelationsOpenOptions,
  type LevelStats,
  type SegmentEntry,
} from './correlations/index.js';
export type { InsertOptions, QueryRecord } from './correlations/correlations.js';
export type { QueryExplain } from './correlations/query-exec.js';
export type { AggregateQuery, QueryOrder, SimilarOptions, TopValuesQuery } from './query/options.js';
export type { AggregateRow } from './query/aggregate.js';
export { FindBuilder } from './query/builder.js';
export { Service, type ServiceOptions } from './server/service.js';
export { Pipeline, loadCorrelator, type PipelineOptions } from './server/pipeline.js';
export { builtinCorrelator, type Correlator, type CorrelatorContext, type PipelineEvent } from './server/correlator.js';
export { HTTP_STATUS } from './errors.js';
export { parseSelector, SELECTOR_REGEX_MAX_LENGTH, type Labels, type Requirement, type Selector, type SelectorOperator } from './query/selector.js';
