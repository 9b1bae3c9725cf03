/**
 * The configuration of tapio-storage: the YAML keys, their defaults and limits, and the
 * functions that turn an object or a file into one resolved, typed {@link TapioConfig}.
 * docs/configuration.md describes every key.
 */
export {
  DEFAULTS,
  LIMITS,
  STORE_DIRS,
  type CompactionConfig,
  type CorrelationsConfig,
  type DirectIo,
  type DurationInput,
  type MetadataConfig,
  type ServerConfig,
  type SizeInput,
  type StorageConfig,
  type TapioConfig,
  type TapioConfigInput,
  type TransitConfig,
} from './schema.js';
export { formatConfig, loadConfig, parseConfigYaml, resolveConfig, type ConfigProblem, type ResolveOptions } from './load.js';
export { formatDuration, formatSize, parseDuration, parseSize } from './units.js';
