import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

import { afterAll, beforeAll, describe, expect, test } from 'vitest';

import {
  type ConfigProblem,
  DEFAULTS,
  formatConfig,
  LIMITS,
  loadConfig,
  parseConfigYaml,
  resolveConfig,
  STORE_DIRS,
  type TapioConfig,
} from '../../src/config/index.js';
import { TapioError } from '../../src/errors.js';

const MiB = 1024 ** 2;
const GiB = 1024 ** 3;
const base = resolve('/srv/tapio');

/** Calls fn and returns the ERR_CONFIG TapioError it throws. */
function configError(fn: () => unknown): TapioError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(TapioError);
    expect((error as TapioError).code).toBe('ERR_CONFIG');
    return error as TapioError;
  }
  throw new Error('expected ERR_CONFIG, nothing was thrown');
}

async function asyncConfigError(promise: Promise<unknown>): Promise<TapioError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(TapioError);
    expect((error as TapioError).code).toBe('ERR_CONFIG');
    return error as TapioError;
  }
  throw new Error('expected ERR_CONFIG, nothing was thrown');
}

function problems(error: TapioError): ConfigProblem[] {
  return (error.details as { problems: ConfigProblem[] }).problems;
}

/** The single problem line the error reports for `input`. */
function onlyProblem(input: unknown): string {
  const error = configError(() => resolveConfig(input, { baseDir: base }));
  expect(problems(error)).toHaveLength(1);
  const lines = error.message.split('\n');
  expect(lines[0]).toBe('Invalid configuration (1 problem):');
  return lines[1]!.trim();
}

const transit = (values: Record<string, unknown>) => ({ storage: { transit: values } });
const correlations = (values: Record<string, unknown>) => ({ storage: { correlations: values } });
const metadata = (values: Record<string, unknown>) => ({ storage: { metadata: values } });

const defaultConfig: TapioConfig = {
  dataDir: join(base, 'data'),
  storage: {
    correlations: {
      type: 'frostdb',
      path: join(base, 'data', 'correlations'),
      active_memory: 512_000_000,
      wal_enabled: true,
      compaction: { l0_size: 100_000_000, l1_size: 1_000_000_000 },
      retention: 30 * 24 * 3_600_000,
      embedding_dim: 128,
      finding_types: ['anomaly', 'attack', 'misconfiguration'],
    },
    metadata: {
      type: 'badger',
      path: join(base, 'data', 'metadata'),
      in_memory: false,
      compression: true,
    },
    transit: {
      wal_path: join(base, 'data', 'wal'),
      retention: 3_600_000,
      direct_io: 'auto',
      ring_capacity: 64 * MiB,
      segment_size: 64 * MiB,
    },
  },
  server: {
    host: '127.0.0.1',
    port: 7700,
    correlator: 'builtin',
    max_body: 16_000_000,
    max_line: 1_000_000,
    max_events: 100_000,
    request_timeout: 30_000,
    query_limit: 10_000,
    max_inflight: 256,
  },
};

describe('the server section', () => {
  test('takes a host, a port, limits and a correlator module resolved against the base directory', () => {
    const c = resolveConfig({ server: { host: '0.0.0.0', port: 0, correlator: './corr.mjs', max_body: '2MB', request_timeout: '5s' } }, { baseDir: base });
    expect(c.server).toMatchObject({ host: '0.0.0.0', port: 0, correlator: join(base, 'corr.mjs'), max_body: 2_000_000, request_timeout: 5000 });
    expect(resolveConfig({ server: { correlator: 'none' } }, { baseDir: base }).server.correlator).toBe('none');
  });

  test.each([
    [{ port: 70000 }, 'server.port'],
    [{ port: '7700' }, 'server.port'],
    [{ host: '' }, 'server.host'],
    [{ max_body: '1GB0' }, 'server.max_body'],
    [{ max_events: 0 }, 'server.max_events'],
    [{ request_timeout: '0s' }, 'server.request_timeout'],
    [{ correlator: 3 }, 'server.correlator'],
    [{ listen: 1 }, 'server'],
  ])('refuses %j naming %s', (server, key) => {
    expect(onlyProblem({ server })).toContain(key);
  });
});

describe('defaults', () => {
  test('an empty object resolves to every default', () => {
    expect(resolveConfig({}, { baseDir: base })).toEqual(defaultConfig);
  });

  test('undefined and null are the empty configuration', () => {
    expect(resolveConfig(undefined, { baseDir: base })).toEqual(defaultConfig);
    expect(resolveConfig(null, { baseDir: base })).toEqual(defaultConfig);
  });

  test('a section set to null counts as not set', () => {
    expect(resolveConfig({ storage: null }, { baseDir: base })).toEqual(defaultConfig);
    expect(resolveConfig({ storage: { transit: null, correlations: { compaction: null } } }, { baseDir: base })).toEqual(defaultConfig);
  });

  test('DEFAULTS and STORE_DIRS are the documented values', () => {
    expect(DEFAULTS).toEqual({
      dataDir: './data',
      storage: {
        correlations: {
          type: 'frostdb',
          active_memory: '512MB',
          wal_enabled: true,
          compaction: { l0_size: '100MB', l1_size: '1GB' },
          retention: '30d',
          embedding_dim: 128,
          finding_types: ['anomaly', 'attack', 'misconfiguration'],
        },
        metadata: { type: 'badger', in_memory: false, compression: true },
        transit: { retention: '1h', direct_io: 'auto', ring_capacity: '64MB', segment_size: '64MiB' },
      },
      server: {
        host: '127.0.0.1',
        port: 7700,
        correlator: 'builtin',
        max_body: '16MB',
        max_line: '1MB',
        max_events: 100_000,
        request_timeout: '30s',
        query_limit: 10_000,
        max_inflight: 256,
      },
    });
    expect(STORE_DIRS).toEqual({ correlations: 'correlations', metadata: 'metadata', transit: 'wal' });
  });

  test('the default ring capacity 64MB is rounded up to 64MiB', () => {
    const config = resolveConfig({});
    expect(config.storage.transit.ring_capacity).toBe(67108864);
    expect(config.storage.metadata.in_memory).toBe(false);
  });

  test('without baseDir, relative paths are resolved against the current directory', () => {
    const config = resolveConfig({});
    expect(config.dataDir).toBe(resolve(process.cwd(), 'data'));
    expect(config.storage.transit.wal_path).toBe(resolve(process.cwd(), 'data', 'wal'));
  });
});

describe('paths', () => {
  test('{ dataDir } alone places every store under it', () => {
    const dataDir = resolve('/var/lib/tapio');
    const config = resolveConfig({ dataDir });
    expect(config.dataDir).toBe(dataDir);
    expect(config.storage.correlations.path).toBe(join(dataDir, 'correlations'));
    expect(config.storage.metadata.path).toBe(join(dataDir, 'metadata'));
    expect(config.storage.transit.wal_path).toBe(join(dataDir, 'wal'));
  });

  test('an explicit store path wins over dataDir, the others stay under it', () => {
    const config = resolveConfig({ dataDir: '/var/lib/tapio', storage: { transit: { wal_path: '/fast/wal' }, metadata: { path: 'meta' } } }, { baseDir: base });
    expect(config.storage.transit.wal_path).toBe(resolve('/fast/wal'));
    expect(config.storage.metadata.path).toBe(join(base, 'meta'));
    expect(config.storage.correlations.path).toBe(join(resolve('/var/lib/tapio'), 'correlations'));
  });

  test('relative paths are resolved against baseDir, not against dataDir', () => {
    const config = resolveConfig(
      { dataDir: 'state', storage: { correlations: { path: './data/correlations' }, transit: { wal_path: '../wal' } } },
      { baseDir: base },
    );
    expect(config.dataDir).toBe(join(base, 'state'));
    expect(config.storage.correlations.path).toBe(join(base, 'data', 'correlations'));
    expect(config.storage.transit.wal_path).toBe(resolve(base, '..', 'wal'));
    expect(config.storage.metadata.path).toBe(join(base, 'state', 'metadata'));
  });

  test('a relative baseDir is itself resolved against the current directory', () => {
    expect(resolveConfig({ dataDir: 'd' }, { baseDir: 'rel' }).dataDir).toBe(resolve(process.cwd(), 'rel', 'd'));
  });

  test('paths are normalized', () => {
    expect(resolveConfig({ dataDir: '/a/./b/../c/' }).dataDir).toBe(resolve('/a/c'));
  });

  test.each<[unknown, string]>([
    ['', 'dataDir: got "", expected a directory path (a non-empty string)'],
    [42, 'dataDir: got 42, expected a directory path (a non-empty string)'],
    [null, 'dataDir: got null, expected a directory path (a non-empty string)'],
    [
      '~/tapio',
      'dataDir: got "~/tapio", expected a directory path (a non-empty string); "~" is not expanded; write the home directory out, or use a relative path',
    ],
    ['a\0b', 'dataDir: got "a\\u0000b", expected a directory path (a non-empty string); it contains a NUL character'],
  ])('rejects dataDir %j', (dataDir, line) => {
    expect(onlyProblem({ dataDir })).toBe(line);
  });

  test('rejects a store path that is not a string', () => {
    expect(onlyProblem(transit({ wal_path: ['a'] }))).toBe('storage.transit.wal_path: got ["a"], expected a directory path (a non-empty string)');
  });

  test('resolving creates nothing', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tapio-config-'));
    try {
      const config = resolveConfig({ dataDir: join(dir, 'data') });
      expect(existsSync(config.dataDir)).toBe(false);
      expect(existsSync(config.storage.transit.wal_path)).toBe(false);
      await writeFile(join(dir, 'tapio.yaml'), `dataDir: ${JSON.stringify(join(dir, 'data'))}\n`);
      await loadConfig(join(dir, 'tapio.yaml'));
      expect(existsSync(join(dir, 'data'))).toBe(false);
      await writeFile(join(dir, 'bad.yaml'), `dataDir: ${JSON.stringify(join(dir, 'data'))}\nstorage: { transit: { retention: 1x } }\n`);
      await asyncConfigError(loadConfig(join(dir, 'bad.yaml')));
      expect(existsSync(join(dir, 'data'))).toBe(false);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('sizes and durations in the configuration', () => {
  test('sizes become bytes and durations milliseconds', () => {
    const config = resolveConfig({
      storage: {
        correlations: {
          active_memory: '2GiB',
          compaction: { l0_size: 64 * MiB, l1_size: '1.5GB' },
          retention: '2w',
        },
        transit: { retention: '1h30m', segment_size: '128MiB' },
      },
    });
    expect(config.storage.correlations.active_memory).toBe(2 * GiB);
    expect(config.storage.correlations.compaction).toEqual({ l0_size: 64 * MiB, l1_size: 1_500_000_000 });
    expect(config.storage.correlations.retention).toBe(14 * 24 * 3_600_000);
    expect(config.storage.transit.retention).toBe(5_400_000);
    expect(config.storage.transit.segment_size).toBe(128 * MiB);
  });

  test('a bad size names the key, the value and the expected form', () => {
    expect(onlyProblem(correlations({ active_memory: '12XB' }))).toBe(
      'storage.correlations.active_memory: got "12XB", expected a size such as 512MB, 1GiB or 4096 (bytes); ' +
        'units are B, KB, MB, GB, TB (powers of 1000) and KiB, MiB, GiB, TiB (powers of 1024)',
    );
    expect(onlyProblem(correlations({ active_memory: '-1MB' }))).toBe(
      'storage.correlations.active_memory: got "-1MB", expected a size such as 512MB, 1GiB or 4096 (bytes); sizes cannot be negative',
    );
    expect(onlyProblem(correlations({ compaction: { l0_size: '1.5' } }))).toBe(
      'storage.correlations.compaction.l0_size: got "1.5", expected a size such as 512MB, 1GiB or 4096 (bytes); it is not a whole number of bytes',
    );
    expect(onlyProblem(transit({ segment_size: '64M' }))).toBe(
      'storage.transit.segment_size: got "64M", expected a size such as 512MB, 1GiB or 4096 (bytes); ' +
        '"M" alone is ambiguous; write MB (powers of 1000) or MiB (powers of 1024)',
    );
  });

  test('a bad duration names the key, the value and the expected form', () => {
    expect(onlyProblem(transit({ retention: '1x' }))).toBe(
      'storage.transit.retention: got "1x", expected a duration such as 30s, 15m, 1h or 30d; units are ms, s, m, h, d and w',
    );
    expect(onlyProblem(transit({ retention: 30 }))).toBe(
      'storage.transit.retention: got 30, expected a duration such as 30s, 15m, 1h or 30d; ' +
        'a plain number is ambiguous; add a unit (ms, s, m, h, d or w), e.g. 30s',
    );
    expect(onlyProblem(correlations({ retention: '30' }))).toContain('a plain number is ambiguous; add a unit');
  });

  test('retention must be greater than zero', () => {
    expect(onlyProblem(transit({ retention: '0s' }))).toBe('storage.transit.retention: got "0s", expected a duration greater than 0, such as 1h');
    expect(onlyProblem(correlations({ retention: '0d' }))).toBe('storage.correlations.retention: got "0d", expected a duration greater than 0, such as 30d');
  });
});

describe('ring_capacity', () => {
  test.each<[string | number, number]>([
    ['64MB', 64 * MiB],
    ['64MiB', 64 * MiB],
    ['100KB', 128 * 1024],
    ['64KiB', 64 * 1024],
    [65536, 65536],
    [65537, 131072],
    ['1GB', GiB],
    ['600MiB', GiB],
    ['1GiB', GiB],
  ])('%j resolves to %d bytes (a power of two)', (input, bytes) => {
    const ring = resolveConfig(transit({ ring_capacity: input })).storage.transit.ring_capacity;
    expect(ring).toBe(bytes);
    expect(Number.isInteger(Math.log2(ring))).toBe(true);
  });

  test.each(['32KiB', 65535, '1.5GiB', '2GiB', '5GB', 0])('rejects %j', (input) => {
    expect(onlyProblem(transit({ ring_capacity: input }))).toBe(
      `storage.transit.ring_capacity: got ${JSON.stringify(input)}, expected a size from 64KiB to 1GiB, such as 64MiB (it is rounded up to a power of two)`,
    );
  });

  test('LIMITS states the bounds', () => {
    expect(LIMITS.ring_capacity).toEqual({ min: 64 * 1024, max: GiB });
    expect(LIMITS.segment_size).toEqual({ min: MiB, max: GiB, multipleOf: 4096 });
  });
});

describe('bounds', () => {
  test.each<[string | number, number]>([
    ['1MiB', MiB],
    ['1GiB', GiB],
    ['4100KiB', 4100 * 1024],
    [8 * MiB, 8 * MiB],
  ])('segment_size %j is accepted', (input, bytes) => {
    expect(resolveConfig(transit({ segment_size: input })).storage.transit.segment_size).toBe(bytes);
  });

  test.each<[string | number]>([['1MB'], ['1023KiB'], ['1025MiB'], ['2GiB'], [0]])('segment_size %j is out of range', (input) => {
    expect(onlyProblem(transit({ segment_size: input }))).toBe(
      `storage.transit.segment_size: got ${JSON.stringify(input)}, expected a multiple of 4096 bytes from 1MiB to 1GiB, such as 64MiB`,
    );
  });

  test('segment_size not a multiple of 4096 suggests the nearest multiples', () => {
    expect(onlyProblem(transit({ segment_size: MiB + 100 }))).toBe(
      'storage.transit.segment_size: got 1048676, expected a multiple of 4096 bytes from 1MiB to 1GiB, such as 64MiB; ' +
        'the nearest multiples are 1MiB and 1028KiB',
    );
    expect(onlyProblem(transit({ segment_size: '10MB' }))).toBe(
      'storage.transit.segment_size: got "10MB", expected a multiple of 4096 bytes from 1MiB to 1GiB, such as 64MiB; ' +
        'the nearest multiples are 9764KiB and 9768KiB',
    );
    expect(resolveConfig(transit({ segment_size: '64MB' })).storage.transit.segment_size).toBe(64_000_000);
  });

  test('finding_types takes a list of distinct names and refuses the rest, saying why', () => {
    expect(resolveConfig(correlations({ finding_types: ['anomaly', 'drift-2', 'x_y'] })).storage.correlations.finding_types).toEqual([
      'anomaly',
      'drift-2',
      'x_y',
    ]);
    const expected =
      "expected a list of 1 to 255 distinct names of lowercase letters, digits, '_' and '-' (starting with a letter, at most 63 characters), such as [anomaly, attack, misconfiguration]";
    expect(onlyProblem(correlations({ finding_types: [] }))).toBe(`storage.correlations.finding_types: got [], ${expected}`);
    expect(onlyProblem(correlations({ finding_types: 'anomaly' }))).toBe(`storage.correlations.finding_types: got "anomaly", ${expected}`);
    expect(onlyProblem(correlations({ finding_types: ['a', 'a'] }))).toContain('"a" is listed twice');
    expect(onlyProblem(correlations({ finding_types: ['Attack'] }))).toContain('"Attack" is not such a name');
    expect(onlyProblem(correlations({ finding_types: ['x'.repeat(64)] }))).toContain('is not such a name');
  });

  test.each([1, 65536, 768])('embedding_dim %d is accepted', (dim) => {
    expect(resolveConfig(correlations({ embedding_dim: dim })).storage.correlations.embedding_dim).toBe(dim);
  });

  test.each<[unknown]>([[0], [65537], [1.5], ['128'], [-3], [null]])('embedding_dim %j is rejected', (dim) => {
    expect(onlyProblem(correlations({ embedding_dim: dim }))).toBe(
      `storage.correlations.embedding_dim: got ${JSON.stringify(dim)}, expected a whole number from 1 to 65536, such as 128`,
    );
  });

  test('active_memory is at least 1MiB', () => {
    expect(resolveConfig(correlations({ active_memory: '1MiB' })).storage.correlations.active_memory).toBe(MiB);
    expect(onlyProblem(correlations({ active_memory: '1MB' }))).toBe(
      'storage.correlations.active_memory: got "1MB", expected a size of at least 1MiB, such as 512MB',
    );
  });

  test('l0_size is greater than 0', () => {
    expect(onlyProblem(correlations({ compaction: { l0_size: 0 } }))).toBe(
      'storage.correlations.compaction.l0_size: got 0, expected a size greater than 0, such as 100MB',
    );
  });

  test('l1_size must be greater than l0_size', () => {
    expect(onlyProblem(correlations({ compaction: { l0_size: '1GB', l1_size: '500MB' } }))).toBe(
      'storage.correlations.compaction.l1_size: got "500MB", expected a size greater than compaction.l0_size (1GB)',
    );
    expect(onlyProblem(correlations({ compaction: { l0_size: '1GB', l1_size: '1000MB' } }))).toBe(
      'storage.correlations.compaction.l1_size: got "1000MB", expected a size greater than compaction.l0_size (1GB)',
    );
  });

  test('a default l1_size below a configured l0_size is reported as the default', () => {
    expect(onlyProblem(correlations({ compaction: { l0_size: '2GB' } }))).toBe(
      'storage.correlations.compaction.l1_size: got the default "1GB", expected a size greater than compaction.l0_size (2GB)',
    );
    const config = resolveConfig(correlations({ compaction: { l0_size: '2GB', l1_size: '4GB' } }));
    expect(config.storage.correlations.compaction).toEqual({ l0_size: 2e9, l1_size: 4e9 });
  });
});

describe('types and enums', () => {
  test.each<[Record<string, unknown>, string]>([
    [metadata({ in_memory: 'yes' }), 'storage.metadata.in_memory: got "yes", expected true or false'],
    [metadata({ compression: 1 }), 'storage.metadata.compression: got 1, expected true or false'],
    [correlations({ wal_enabled: null }), 'storage.correlations.wal_enabled: got null, expected true or false'],
    [
      correlations({ type: 'lmdb' }),
      'storage.correlations.type: got "lmdb", expected "frostdb" (the name of the correlation store role: this project\'s columnar store)',
    ],
    [metadata({ type: 'lmdb' }), 'storage.metadata.type: got "lmdb", expected "badger" (the name of the metadata store role: this project\'s lmdb store)'],
    [transit({ direct_io: 'AUTO' }), 'storage.transit.direct_io: got "AUTO", expected "auto", "on" or "off" (true and false mean on and off)'],
    [transit({ direct_io: 'yes' }), 'storage.transit.direct_io: got "yes", expected "auto", "on" or "off" (true and false mean on and off)'],
    [{ storage: 5 }, 'storage: got 5, expected a mapping with the keys correlations, metadata, transit'],
    [{ storage: { transit: [] } }, 'storage.transit: got [], expected a mapping with the keys wal_path, retention, direct_io, ring_capacity, segment_size'],
    [correlations({ compaction: '100MB' }), 'storage.correlations.compaction: got "100MB", expected a mapping with the keys l0_size, l1_size'],
    [transit({ retention: null }), 'storage.transit.retention: got null, expected a duration such as 30s, 15m, 1h or 30d'],
  ])('%j', (input, line) => {
    expect(onlyProblem(input)).toBe(line);
  });

  test('a configuration that is not a mapping', () => {
    expect(onlyProblem('hello')).toBe('(top level): got "hello", expected a mapping with the keys dataDir, storage, server');
    expect(onlyProblem([1, 2])).toBe('(top level): got [1,2], expected a mapping with the keys dataDir, storage, server');
  });

  test('direct_io accepts auto, on, off and the booleans', () => {
    const directIo = (value: unknown) => resolveConfig(transit({ direct_io: value })).storage.transit.direct_io;
    expect(directIo('auto')).toBe('auto');
    expect(directIo('on')).toBe('on');
    expect(directIo('off')).toBe('off');
    expect(directIo(true)).toBe('on');
    expect(directIo(false)).toBe('off');
  });

  test('the booleans and types take their values', () => {
    const config = resolveConfig({
      storage: {
        correlations: { type: 'frostdb', wal_enabled: false },
        metadata: { type: 'badger', in_memory: true, compression: false },
      },
    });
    expect(config.storage.correlations.wal_enabled).toBe(false);
    expect(config.storage.metadata).toMatchObject({ type: 'badger', in_memory: true, compression: false });
  });
});

describe('unknown keys', () => {
  test.each<[Record<string, unknown>, string]>([
    [correlations({ activeMemory: '1GB' }), 'storage.correlations.activeMemory: unknown key; did you mean `active_memory`?'],
    [transit({ walPath: '/x' }), 'storage.transit.walPath: unknown key; did you mean `wal_path`?'],
    [transit({ 'wal-path': '/x' }), 'storage.transit.wal-path: unknown key; did you mean `wal_path`?'],
    [transit({ WAL_PATH: '/x' }), 'storage.transit.WAL_PATH: unknown key; did you mean `wal_path`?'],
    [transit({ retension: '1h' }), 'storage.transit.retension: unknown key; did you mean `retention`?'],
    [transit({ ringcapacty: '1h' }), 'storage.transit.ringcapacty: unknown key; did you mean `ring_capacity`?'],
    [metadata({ inmemroy: true }), 'storage.metadata.inmemroy: unknown key; did you mean `in_memory`?'],
    [correlations({ compaction: { l2_size: '1GB' } }), 'storage.correlations.compaction.l2_size: unknown key; did you mean `l0_size`?'],
    [{ data_dir: '/x' }, 'data_dir: unknown key; did you mean `dataDir`?'],
    [{ storag: {} }, 'storag: unknown key; did you mean `storage`?'],
    [{ storage: { correlation: {} } }, 'storage.correlation: unknown key; did you mean `correlations`?'],
    [transit({ embedding_dim: 64 }), 'storage.transit.embedding_dim: unknown key here; it belongs under storage.correlations'],
    [transit({ type: 'frostdb' }), 'storage.transit.type: unknown key here; it belongs under storage.correlations or storage.metadata'],
    [{ transit: {} }, 'transit: unknown key here; it belongs under storage'],
    [metadata({ encryption: true }), 'storage.metadata.encryption: unknown key; the keys allowed here are type, path, in_memory, compression'],
    [{ foo: 1 }, 'foo: unknown key; the keys allowed here are dataDir, storage, server'],
  ])('%j', (input, line) => {
    expect(onlyProblem(input)).toBe(line);
  });
});

describe('several problems', () => {
  test('are all listed in one error', () => {
    const error = configError(() =>
      resolveConfig({
        dataDir: 7,
        storage: {
          correlations: { activeMemory: '1GB', embedding_dim: 0, compaction: { l0_size: '2GB' } },
          metadata: { in_memory: 'yes' },
          transit: { retention: '1x', ring_capacity: '1KiB', direct_io: 'maybe' },
        },
        extra: true,
      }),
    );
    const paths = problems(error).map((problem) => problem.path);
    expect(paths.sort()).toEqual(
      [
        'dataDir',
        'extra',
        'storage.correlations.activeMemory',
        'storage.correlations.compaction.l1_size',
        'storage.correlations.embedding_dim',
        'storage.metadata.in_memory',
        'storage.transit.direct_io',
        'storage.transit.retention',
        'storage.transit.ring_capacity',
      ].sort(),
    );
    const lines = error.message.split('\n');
    expect(lines[0]).toBe('Invalid configuration (9 problems):');
    expect(lines).toHaveLength(11);
    expect(lines[10]).toBe('Nothing was created or touched; docs/configuration.md lists every key.');
    for (const problem of problems(error)) expect(lines).toContain(`  ${problem.path}: ${problem.message}`);
    expect(error.message).toContain('  storage.transit.retention: got "1x", expected a duration such as 30s, 15m, 1h or 30d');
    expect(error.message).toContain('  storage.correlations.activeMemory: unknown key; did you mean `active_memory`?');
    expect(error.message).toContain('  storage.metadata.in_memory: got "yes", expected true or false');
    expect(error.details).toEqual({ problems: problems(error) });
  });

  test('the source is named in the header', () => {
    const error = configError(() => resolveConfig({ foo: 1 }, { source: 'etc/tapio.yaml' }));
    expect(error.message.split('\n')[0]).toBe('Invalid configuration in etc/tapio.yaml (1 problem):');
    expect(error.details).toMatchObject({ source: 'etc/tapio.yaml' });
  });
});

describe('YAML files', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tapio-config-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  async function file(name: string, text: string): Promise<string> {
    const path = join(dir, name);
    await writeFile(path, text);
    return path;
  }

  test('the full example file loads', async () => {
    const path = await file(
      'full.yaml',
      [
        'dataDir: ./data            # optional; every store whose path is not set goes under it',
        'storage:',
        '  correlations: { type: frostdb, path: ./data/correlations, active_memory: 512MB, wal_enabled: true,',
        '                  compaction: { l0_size: 100MB, l1_size: 1GB }, retention: 30d, embedding_dim: 128 }',
        '  metadata:     { type: badger, path: ./data/metadata, in_memory: false, compression: true }',
        '  transit:      { wal_path: ./data/wal, retention: 1h, direct_io: auto, ring_capacity: 64MB, segment_size: 64MiB }',
        '',
      ].join('\n'),
    );
    expect(await loadConfig(path, { baseDir: base })).toEqual(defaultConfig);
  });

  test('an empty file, or one holding only comments, is every default', async () => {
    expect(await loadConfig(await file('empty.yaml', ''), { baseDir: base })).toEqual(defaultConfig);
    expect(await loadConfig(await file('comments.yaml', '# nothing here\n'), { baseDir: base })).toEqual(defaultConfig);
    expect(await loadConfig(await file('bare.yaml', 'storage:\n  transit:\n'), { baseDir: base })).toEqual(defaultConfig);
  });

  test("relative paths in a file are resolved against the file's directory, whatever the current directory", async () => {
    await mkdir(join(dir, 'sub'), { recursive: true });
    const path = await file('sub/rel.yaml', 'dataDir: state\nstorage:\n  transit:\n    wal_path: ../wal-here\n  metadata:\n    path: /abs/meta\n');
    const config = await loadConfig(path);
    expect(config.dataDir).toBe(join(dir, 'sub', 'state'));
    expect(config.storage.correlations.path).toBe(join(dir, 'sub', 'state', 'correlations'));
    expect(config.storage.transit.wal_path).toBe(join(dir, 'wal-here'));
    expect(config.storage.metadata.path).toBe('/abs/meta');
    // The same file named by a relative path from another directory means the same directories.
    const cwd = process.cwd();
    try {
      process.chdir(join(dir, 'sub'));
      expect(await loadConfig('rel.yaml')).toEqual(config);
    } finally {
      process.chdir(cwd);
    }
    // An explicit baseDir still wins.
    expect((await loadConfig(path, { baseDir: '/srv' })).dataDir).toBe('/srv/state');
  });

  test('direct_io: false and true are the booleans off and on', () => {
    expect(parseConfigYaml('storage:\n  transit:\n    direct_io: false\n').storage.transit.direct_io).toBe('off');
    expect(parseConfigYaml('storage:\n  transit:\n    direct_io: true\n').storage.transit.direct_io).toBe('on');
    expect(parseConfigYaml('storage:\n  transit:\n    direct_io: off\n').storage.transit.direct_io).toBe('off');
    expect(parseConfigYaml('storage:\n  transit:\n    direct_io: on\n').storage.transit.direct_io).toBe('on');
  });

  test('in_memory: yes is a string, not a boolean', async () => {
    const path = await file('yes.yaml', 'storage:\n  metadata:\n    in_memory: yes\n');
    const error = await asyncConfigError(loadConfig(path));
    expect(error.message).toBe(
      [
        `Invalid configuration in ${path} (1 problem):`,
        '  line 3: storage.metadata.in_memory: got "yes", expected true or false',
        'Nothing was created or touched; docs/configuration.md lists every key.',
      ].join('\n'),
    );
    expect(problems(error)).toEqual([{ path: 'storage.metadata.in_memory', message: 'got "yes", expected true or false', line: 3, column: 16 }]);
    expect(error.details).toMatchObject({ source: path });
  });

  test('problems are listed in file order with their lines, unknown keys at the key', async () => {
    const path = await file(
      'several.yaml',
      [
        'storage:',
        '  transit:',
        '    walPath: /x',
        '    retention: 1x',
        '  correlations:',
        '    embedding_dim: 0',
        '    activeMemory: 1GB',
        'extra: 1',
        '',
      ].join('\n'),
    );
    const error = await asyncConfigError(loadConfig(path));
    expect(error.message.split('\n')).toEqual([
      `Invalid configuration in ${path} (5 problems):`,
      '  line 3: storage.transit.walPath: unknown key; did you mean `wal_path`?',
      '  line 4: storage.transit.retention: got "1x", expected a duration such as 30s, 15m, 1h or 30d; units are ms, s, m, h, d and w',
      '  line 6: storage.correlations.embedding_dim: got 0, expected a whole number from 1 to 65536, such as 128',
      '  line 7: storage.correlations.activeMemory: unknown key; did you mean `active_memory`?',
      '  line 8: extra: unknown key; the keys allowed here are dataDir, storage, server',
      'Nothing was created or touched; docs/configuration.md lists every key.',
    ]);
    expect(problems(error).map((p) => [p.line, p.column])).toEqual([
      [3, 5],
      [4, 16],
      [6, 20],
      [7, 5],
      [8, 1],
    ]);
  });

  test('a key with a dot in it is located by its own name', () => {
    const error = configError(() => parseConfigYaml('dataDir: x\nstorage.transit: {}\n'));
    expect(problems(error)).toEqual([
      { path: 'storage.transit', message: 'unknown key; the keys allowed here are dataDir, storage, server', line: 2, column: 1 },
    ]);
  });

  test('a problem about a default points at the nearest key written', () => {
    const error = configError(() => parseConfigYaml('storage:\n  correlations:\n    compaction:\n      l0_size: 2GB\n'));
    expect(problems(error)).toEqual([
      {
        path: 'storage.correlations.compaction.l1_size',
        message: 'got the default "1GB", expected a size greater than compaction.l0_size (2GB)',
        line: 3,
        column: 5,
      },
    ]);
  });

  test('a YAML syntax error is ERR_CONFIG with its line and column', async () => {
    const path = await file('syntax.yaml', 'storage:\n  transit: { retention: 1h\n');
    const error = await asyncConfigError(loadConfig(path));
    expect(error.message).toBe(
      [
        `Invalid configuration in ${path} (1 problem):`,
        '  line 3, column 1: YAML syntax error: Flow map in block collection must be sufficiently indented and end with a }',
        'Nothing was created or touched; docs/configuration.md lists every key.',
      ].join('\n'),
    );
    expect(problems(error)).toEqual([
      { path: '', message: 'YAML syntax error: Flow map in block collection must be sufficiently indented and end with a }', line: 3, column: 1 },
    ]);
  });

  test('other YAML errors: duplicate keys, nested compact mappings, several documents, a missing alias', () => {
    expect(configError(() => parseConfigYaml('dataDir: a\ndataDir: b\n')).message).toContain('  line 2, column 1: YAML syntax error: Map keys must be unique');
    expect(configError(() => parseConfigYaml('dataDir: a: b\n')).message).toContain(
      '  line 1, column 10: YAML syntax error: Nested mappings are not allowed in compact mappings',
    );
    expect(configError(() => parseConfigYaml('dataDir: a\n---\ndataDir: b\n')).message).toContain(
      'YAML syntax error: the file holds more than one YAML document; a configuration is one document',
    );
    expect(configError(() => parseConfigYaml('dataDir: *nowhere\n')).message).toContain('(top level): YAML error: ');
  });

  test('a YAML scalar or list at the top level', () => {
    expect(configError(() => parseConfigYaml('just text\n')).message).toContain(
      '  (top level): got "just text", expected a mapping with the keys dataDir, storage, server',
    );
    expect(configError(() => parseConfigYaml('- a\n- b\n')).message).toContain('  (top level): got ["a","b"], expected a mapping');
  });

  test('a number without a unit is a size in bytes but not a duration', () => {
    expect(parseConfigYaml('storage:\n  transit:\n    ring_capacity: 65536\n').storage.transit.ring_capacity).toBe(65536);
    expect(configError(() => parseConfigYaml('storage:\n  transit:\n    retention: 3600\n')).message).toContain(
      'storage.transit.retention: got 3600, expected a duration such as 30s, 15m, 1h or 30d; a plain number is ambiguous; add a unit',
    );
  });

  test('a missing file is ERR_CONFIG saying it was not found', async () => {
    const path = join(dir, 'nope.yaml');
    const error = await asyncConfigError(loadConfig(path));
    expect(error.message).toBe(`Configuration file not found: ${path} (looked at ${path}). Nothing was created or touched.`);
    expect(error.details).toEqual({ source: path, problems: [{ path: '', message: `Configuration file not found: ${path} (looked at ${path})` }] });
    expect((error.cause as NodeJS.ErrnoException).code).toBe('ENOENT');
  });

  test('a directory is not a configuration file', async () => {
    const error = await asyncConfigError(loadConfig(dir));
    expect(error.message).toBe(`Configuration file ${dir} is a directory; give the path of a YAML file. Nothing was created or touched.`);
  });
});

describe('formatConfig', () => {
  test('prints the resolved values, ring_capacity as rounded', () => {
    const text = formatConfig(resolveConfig({}, { baseDir: base }));
    expect(text).toContain('    ring_capacity: 64MiB\n');
    expect(text).toContain('    active_memory: 512MB\n');
    expect(text).toContain('    retention: 30d\n');
    expect(text).toContain('    retention: 1h\n');
    expect(text).toContain(`dataDir: ${join(base, 'data')}\n`);
  });

  test.each<[string, unknown]>([
    ['the defaults', {}],
    [
      'a configuration with every key set',
      {
        dataDir: '/x y/data',
        storage: {
          correlations: {
            path: '/c: d',
            active_memory: '3MiB',
            wal_enabled: false,
            compaction: { l0_size: 12345, l1_size: '1.5GB' },
            retention: '1d2h3m4s5ms',
            embedding_dim: 3,
          },
          metadata: { path: '#meta', in_memory: true, compression: false },
          transit: { wal_path: 'w', retention: '90m', direct_io: false, ring_capacity: '100KB', segment_size: '4100KiB' },
        },
      },
    ],
  ])('its output loads back to the same configuration: %s', (_name, input) => {
    const config = resolveConfig(input, { baseDir: base });
    expect(parseConfigYaml(formatConfig(config), { baseDir: base })).toEqual(config);
  });
});

describe('docs/configuration.md', () => {
  test('documents every key', async () => {
    const docs = await readFile(new URL('../../docs/configuration.md', import.meta.url), 'utf8');
    const keys: string[] = [];
    const walk = (value: unknown, prefix: string) => {
      for (const [key, child] of Object.entries(value as Record<string, unknown>)) {
        const path = prefix === '' ? key : `${prefix}.${key}`;
        if (child !== null && typeof child === 'object' && !Array.isArray(child)) walk(child, path);
        keys.push(path);
      }
    };
    walk(resolveConfig({}), '');
    expect(keys).toHaveLength(34);
    for (const key of keys) expect(docs).toContain(`| \`${key}\` |`);
  });

  test('shows the error output its example file really gives', async () => {
    const docs = await readFile(new URL('../../docs/configuration.md', import.meta.url), 'utf8');
    const file = /For this file:\n\n```yaml\n([\s\S]*?)```/.exec(docs)?.[1];
    const output = /the message is:\n\n```\n([\s\S]*?)\n```/.exec(docs)?.[1];
    expect(file).toBeDefined();
    expect(output).toBeDefined();
    expect(configError(() => parseConfigYaml(file!, { source: './tapio.yaml' })).message).toBe(output);
  });

  test('its example files resolve to the defaults', async () => {
    const docs = await readFile(new URL('../../docs/configuration.md', import.meta.url), 'utf8');
    const examples = [...docs.matchAll(/```yaml\n([\s\S]*?)```/g)].map((match) => match[1]!).slice(0, 2);
    expect(examples).toHaveLength(2);
    for (const example of examples) expect(parseConfigYaml(example, { baseDir: base })).toEqual(defaultConfig);
  });
});
