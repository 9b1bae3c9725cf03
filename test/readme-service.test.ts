// The curl examples of README.md's service section, run against a fresh server (as `npm start`
// starts it) and compared with the answers the README shows, times and durations aside. The
// examples use a small part of curl's and the shell's syntax; this test reads that part
// (quotes, $VAR, -H, -d, a final `| grep`) and sends the same requests with fetch, so it needs
// no curl on the machine.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { describe, expect, it } from 'vitest';

import { ensureAdminKey } from '../src/cli/serve.js';
import { TapioStorage } from '../src/index.js';
import { builtinCorrelator } from '../src/server/correlator.js';
import { Pipeline } from '../src/server/pipeline.js';
import { Service } from '../src/server/service.js';
import { paths } from './server/helpers.js';

const readme = readFileSync(join(import.meta.dirname, '..', 'README.md'), 'utf8');
const section = /<!-- curl-examples:start -->\n([\s\S]*?)<!-- curl-examples:end -->/.exec(readme)?.[1] ?? '';

/** The examples: each shell block and the output block after it. */
function examples(): Array<{ commands: string[]; output: string; kind: string }> {
  const blocks = [...section.matchAll(/```(\w+)\n([\s\S]*?)```/g)].map((m) => ({ kind: m[1]!, text: m[2]! }));
  const out: Array<{ commands: string[]; output: string; kind: string }> = [];
  for (let i = 0; i < blocks.length; i += 2) {
    expect(blocks[i]!.kind).toBe('sh');
    out.push({ commands: blocks[i]!.text.trim().split('\n'), output: blocks[i + 1]!.text, kind: blocks[i + 1]!.kind });
  }
  return out;
}

/** Shell words with single quotes, double quotes and $VAR expanded from `vars`. */
function words(line: string, vars: Record<string, string>): string[] {
  const out: string[] = [];
  let word: string | null = null;
  const expand = (text: string) => text.replace(/\$(\w+)/g, (_, name: string) => vars[name] ?? '');
  let i = 0;
  while (i < line.length) {
    const c = line[i]!;
    if (c === ' ') {
      if (word !== null) out.push(word);
      word = null;
      i++;
    } else if (c === "'") {
      const end = line.indexOf("'", i + 1);
      word = (word ?? '') + line.slice(i + 1, end);
      i = end + 1;
    } else if (c === '"') {
      const end = line.indexOf('"', i + 1);
      word = (word ?? '') + expand(line.slice(i + 1, end));
      i = end + 1;
    } else {
      let end = i;
      while (end < line.length && !' \'"'.includes(line[end]!)) end++;
      word = (word ?? '') + expand(line.slice(i, end));
      i = end;
    }
  }
  if (word !== null) out.push(word);
  return out;
}

/** Runs one curl line with fetch; returns the body (filtered by a final grep). */
async function curl(line: string, vars: Record<string, string>, base: string): Promise<string> {
  const [command, grep] = line.split(' | grep ');
  const args = words(command!, vars);
  expect(args[0]).toBe('curl');
  const headers: Record<string, string> = {};
  let body: string | undefined;
  let method = 'GET';
  let url = '';
  for (let i = 1; i < args.length; i++) {
    const a = args[i]!;
    if (a === '-s') continue;
    else if (a === '-H') {
      const h = args[++i]!;
      headers[h.slice(0, h.indexOf(':')).toLowerCase()] = h.slice(h.indexOf(':') + 1).trim();
    } else if (a === '-d' || a === '--data-binary') {
      body = args[++i]!;
      method = 'POST';
    } else if (a === '-X') method = args[++i]!;
    else if (a.startsWith('http://')) url = a.replace('http://127.0.0.1:7700', base);
    else throw new Error(`the README's curl uses ${a}, which this test does not read`);
  }
  if (body !== undefined && headers['content-type'] === undefined) headers['content-type'] = 'application/x-www-form-urlencoded';
  const res = await fetch(url, { method, headers, ...(body === undefined ? {} : { body }) });
  const text = await res.text();
  if (grep === undefined) return text;
  const pattern = new RegExp(words(grep, vars)[0]!);
  return text
    .split('\n')
    .filter((l) => pattern.test(l))
    .join('\n');
}

/** Times and durations aside: `timestamp` and `ms` values become placeholders. */
function normalise(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(normalise);
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, k === 'timestamp' ? '<time>' : k === 'ms' ? '<ms>' : normalise(v)]));
  }
  return value;
}

describe.each(paths)('README service examples on the %s path', (path) => {
  it('answer as the README shows', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tapio-readme-srv-'));
    const storage = await TapioStorage.open({ dataDir: join(dir, 'data') }, { transit: { path }, correlations: { path } });
    const admin = await ensureAdminKey(storage);
    const pipeline = await Pipeline.start(storage, builtinCorrelator);
    const service = await Service.start(storage, { port: 0, pipeline });
    try {
      const vars: Record<string, string> = {};
      const list = examples();
      expect(list.length).toBeGreaterThanOrEqual(6);
      for (const { commands, output, kind } of list) {
        let got = '';
        for (const line of commands) {
          const assign = /^(\w+)=\$\((.*)\)$/.exec(line);
          if (assign !== null) {
            if (assign[2] === 'cat data/admin.key') vars[assign[1]!] = readFileSync(admin.file, 'utf8').trim();
            else if (assign[2] === 'date +%s000') vars[assign[1]!] = String(Math.floor(Date.now() / 1000) * 1000);
            else throw new Error(`the README runs $(${assign[2]}), which this test does not know`);
            continue;
          }
          await pipeline.caughtUp();
          got = await curl(line, vars, service.url);
        }
        if (kind === 'json') {
          const want = output
            .trim()
            .split('\n')
            .map((l) => normalise(JSON.parse(l)));
          const have = got
            .trim()
            .split('\n')
            .map((l) => normalise(JSON.parse(l)));
          expect(have, commands.at(-1)).toEqual(want);
        } else expect(got.trim(), commands.at(-1)).toBe(output.trim());
      }
    } finally {
      await service.close();
      await pipeline.close();
      await storage.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
