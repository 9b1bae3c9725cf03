// What a copy installed from a tarball or from git gets: npm packs the package (after `prepare`
// built lib/) and runs the `install` script on the packed files, so these must hold all that the
// entry points and the addon's build need.
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

import { describe, expect, it } from 'vitest';

const rootDir = join(import.meta.dirname, '..');

interface PackageJson {
  main: string;
  types: string;
  exports: Record<string, string | Record<string, string>>;
  bin: Record<string, string>;
  scripts: Record<string, string>;
}

function packedFiles(): Set<string> {
  const r = spawnSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: rootDir, encoding: 'utf8' });
  expect(r.status, r.stderr).toBe(0);
  const [pack] = JSON.parse(r.stdout) as Array<{ files: Array<{ path: string }> }>;
  return new Set(pack!.files.map((f) => f.path));
}

const strip = (path: string): string => path.replace(/^\.\//, '');

describe('the package npm packs', () => {
  const pkg = JSON.parse(readFileSync(join(rootDir, 'package.json'), 'utf8')) as PackageJson;
  const files = packedFiles();

  it('holds every entry point (lib/, built by prepare)', () => {
    const targets = [pkg.main, pkg.types, ...Object.values(pkg.bin)];
    for (const target of Object.values(pkg.exports)) targets.push(...(typeof target === 'string' ? [target] : Object.values(target)));
    for (const target of targets) expect(files, target).toContain(strip(target));
  });

  it('holds what the install script needs to build the addon', () => {
    const script = /^node (\S+)$/.exec(pkg.scripts.install ?? '')?.[1];
    expect(script).toBeDefined();
    expect(files).toContain(script);
    expect(files).toContain('binding.gyp');
    const gyp = JSON.parse(readFileSync(join(rootDir, 'binding.gyp'), 'utf8')) as { targets: Array<{ sources: string[] }> };
    const sources = gyp.targets.flatMap((t) => t.sources);
    expect(sources.length).toBeGreaterThan(0);
    for (const dir of ['native/core', 'native/binding']) {
      sources.push(...readdirSync(join(rootDir, dir)).map((name) => `${dir}/${name}`));
    }
    expect(sources.filter((path) => !files.has(path))).toEqual([]);
  });
});
