/**
 * The correlation store: public names.
 */
export { Correlations, type CorrelationQuery, type CorrelationStats, type CorrelationsOpenOptions, type LevelStats } from './correlations.js';
export type { CorrelationInput, CorrelationRecord, CorrelationField } from './record.js';
export type { SegmentEntry } from './manifest.js';
