/**
 * Limits of the correlation store's input and of its files. The byte layouts these refer to are
 * described in docs/FORMAT.md ("Correlation store").
 */

export const CORRELATION_LIMITS = {
  /** Characters of a finding id. */
  id: 256,
  /** Characters of a resource type name (a column name: resources.<type>). */
  resourceType: 63,
  /** Characters of one resource name (a Kubernetes name is at most 253). */
  resourceName: 253,
  /** Names under one resource type in one finding. */
  namesPerType: 10_000,
  /** Bytes of a finding's pattern. */
  patternBytes: 64 * 1024,
  /** The latest timestamp a finding may have: the end of the range of a JavaScript Date, in ms. */
  maxTimestamp: 8_640_000_000_000_000,
  /** Resource types (columns) one store may hold. */
  resourceTypes: 1024,
  /** Findings in one insert (one WAL record). */
  batchRows: 1_000_000,
} as const;

/** Rows per Parquet row group: the unit a scan or a compaction cursor reads at a time. */
export const ROW_GROUP_ROWS = 16_384;

/** The magic number that starts a batch record in the correlation WAL ('TFB1', little-endian). */
export const BATCH_MAGIC = 0x31424654;
export const BATCH_VERSION = 1;
/** Bytes of a batch record's fixed header. */
export const BATCH_HEADER_SIZE = 32;
/** Flag bit of a batch record whose header carries a source position (bytes 24..31, a uint64). */
export const BATCH_FLAG_SOURCE = 1;

/** The magic number of an embedding side file ('TEMB', little-endian), its version and header size. */
export const EMBEDDING_MAGIC = 0x424d4554;
export const EMBEDDING_VERSION = 1;
export const EMBEDDING_HEADER_SIZE = 64;
/** Rows of an embedding side file start at multiples of this many bytes (a cache line, and AVX-512's width). */
export const EMBEDDING_ALIGN = 64;

/** The manifest's file name and format name. */
export const MANIFEST_FILE = 'MANIFEST';
export const MANIFEST_FORMAT = 'tapio-correlations-manifest';
export const MANIFEST_VERSION = 1;
