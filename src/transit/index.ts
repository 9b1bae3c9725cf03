/**
 * The transit store: public names and the choice of backend.
 */
import { TapioError } from '../errors.js';
import { loadNative } from '../native/loader.js';
import type { WalBackend, WalOpenOptions } from './backend.js';
import { NativeWal } from './native-wal.js';
import { TsWalWriter } from './wal-writer.js';

export {
  Transit,
  type ReadOptions,
  type Subscription,
  type SubscribeOptions,
  type SubscriptionState,
  type SubscriptionStats,
  type TransitRecord,
  type TransitRecordInput,
  type TransitStats,
  type TransitOpenOptions,
  type CheckpointStore,
} from './transit.js';
export { attachProducer, transferList, type TransitProducer } from './producer.js';
export {
  probeSync,
  SYNC_PROBE_MODES,
  SYNC_PROBE_MODE_TEXT,
  DEFAULT_PROBE_WRITE_BYTES,
  type SyncProbeMode,
  type SyncProbeOptions,
  type SyncProbeResult,
} from './sync-probe.js';
export type { AppendResult, ProducerHandle, RecoveryReport, RecoveryMode, DirectIoMode, WalWriterStats } from './backend.js';

/**
 * Opens the WAL with the native backend when the addon is loaded (or when `path` asks for it),
 * else with the TypeScript twin.
 */
export async function openWalBackend(options: WalOpenOptions, path?: 'native' | 'typescript'): Promise<WalBackend> {
  if (path === 'typescript') return TsWalWriter.open(options);
  const native = loadNative();
  if (native) return NativeWal.open(options);
  if (path === 'native') throw new TapioError('ERR_NATIVE', 'the native path was requested but the addon is not loaded (see capabilities().nativeReason)');
  return TsWalWriter.open(options);
}
