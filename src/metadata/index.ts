/**
 * The metadata store of tapio-storage: users, API keys, resource metadata and consumer
 * checkpoints in lmdb. See docs/metadata.md.
 */

export {
  MetadataStore,
  Users,
  ApiKeys,
  Resources,
  Checkpoints,
  type MetadataConfig as MetadataStoreConfig,
  type MetadataOpenOptions,
  type MetadataStoreInfo,
} from './metadata-store.js';
export {
  MetadataReader,
  MetadataTransaction,
  UserReader,
  UserWriter,
  ApiKeyReader,
  ApiKeyWriter,
  ResourceReader,
  ResourceWriter,
  CheckpointReader,
  CheckpointWriter,
  type User,
  type UserWithApiKey,
  type UserCreateOptions,
  type ApiKeyInfo,
  type CreatedApiKey,
  type Resource,
  type Checkpoint,
  type Page,
} from './views.js';
export { parseApiKey, API_KEY_LENGTH, API_KEY_PREFIX, type ParsedApiKey } from './api-key-format.js';
export { METADATA_LIMITS, FORMAT_VERSION as METADATA_FORMAT_VERSION, type ListOptions, type UserCreateInput, type ApiKeyCreateInput } from './schemas.js';
