import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { backfillIndex, formatIndexRow } from '../../../src/index-backfill/index.js';
import { buildEpisodeTarball } from '../../../src/testing/episode-tarball.js';
import {
  COMMIT,
  buildTree,
  copyTree,
  maskTimes,
  peerAvailable,
  peerSkipReason,
  read,
  runExample,
  runPeer,
  scratch,
} from './episode-tree.js';

const FIXED = new Date('2026-11-23T14:47:29.123Z');
const sha256sum = (path: string): string => spawnSync('sha256sum', [path], { encoding: 'utf8' }).stdout.split(' ')[0]!;

async function smallTree(dir: string, hosts: Record<string, number>): Promise<string> {
  const root = join(dir, 'episodes');
  for (const [host, count] of Object.entries(hosts)) {
    for (let i = 0; i < count; i += 1) {
      (
        await buildEpisodeTarball({
          meta: { code_version: { commit: COMMIT } },
          files: { 'f.bin': Buffer.alloc(2000 + i * 997, i) },
          path: join(root, host, `ep-${String(i).padStart(4, '0')}.tar.zst`),
        })
      )._unsafeUnwrap();
    }
  }
  return root;
}

describe('backfillIndex', () => {
  it('a dry run leaves the index byte-identical, takes no lock, and reports the rows', async () => {
    const dir = scratch('dry');
    const { root, index } = await buildTree(dir);
    const before = readFileSync(index);
    const report = (await backfillIndex({ episodesRoot: root, index, dryRun: true }))._unsafeUnwrap();
    expect(readFileSync(index).equals(before)).toBe(true);
    expect(existsSync(`${index}.backfill.lock`)).toBe(false);
    expect(report.dryRun).toBe(true);
    expect(report.appended).toBe(0);
    expect(report.toBackfill).toBeGreaterThan(5);
    // and a missing index stays missing
    const fresh = join(dir, 'missing.jsonl');
    (await backfillIndex({ episodesRoot: root, index: fresh, dryRun: true }))._unsafeUnwrap();
    expect(existsSync(fresh)).toBe(false);
  });

  it('writes each sha256 and size as sha256sum and stat see them, stamps the injected clock, in sorted order at any concurrency', async () => {
    const dir = scratch('order');
    const root = await smallTree(dir, { 'h-b': 7, 'h-a': 5, 'h-c': 3 });
    const one = (
      await backfillIndex({ episodesRoot: root, index: join(dir, 'one.jsonl'), concurrency: 1, now: () => FIXED })
    )._unsafeUnwrap();
    const many = (
      await backfillIndex({ episodesRoot: root, index: join(dir, 'many.jsonl'), concurrency: 8, now: () => FIXED })
    )._unsafeUnwrap();
    expect(read(join(dir, 'many.jsonl'))).toBe(read(join(dir, 'one.jsonl')));
    expect(many.rows.map((r) => `${r.host_id}/${r.episode_id}`)).toEqual(one.rows.map((r) => `${r.host_id}/${r.episode_id}`));
    expect(one.rows.map((r) => r.host_id)).toEqual([...Array(5).fill('h-a'), ...Array(7).fill('h-b'), ...Array(3).fill('h-c')]);
    for (const row of one.rows) {
      const file = join(root, row.host_id, `${row.episode_id}.tar.zst`);
      expect(row.sha256).toBe(sha256sum(file));
      expect(row.size_bytes).toBe(statSync(file).size);
      expect(row.received_at_wall).toBe('2026-11-23T14:47:29.123000+00:00');
    }
    expect(read(join(dir, 'one.jsonl')).split('\n')[0]).toBe(formatIndexRow(one.rows[0]!));
  });

  it('keeps malformed lines, skips them with a warning naming the line, and never changes the mode', async () => {
    const dir = scratch('malformed');
    const root = await smallTree(dir, { h: 3 });
    const index = join(dir, 'index.jsonl');
    const existing = '{"episode_id": "ep-0001"}\n{broken\n[1, 2]\n\n   \n{"episode_id": "ep-9999"}\n';
    writeFileSync(index, existing);
    chmodSync(index, 0o640);
    const report = (await backfillIndex({ episodesRoot: root, index }))._unsafeUnwrap();
    expect(read(index).startsWith(existing)).toBe(true);
    expect(report.rows.map((r) => r.episode_id)).toEqual(['ep-0000', 'ep-0002']);
    expect(report.warnings.map((w) => [w.code, w.line])).toEqual([
      ['JSON_MALFORMED', 2],
      ['RECORD_NOT_OBJECT', 3],
    ]);
    expect(statSync(index).mode & 0o777).toBe(0o640);
    expect(existsSync(`${index}.backfill.lock`)).toBe(false);
  });

  it('stops with LINE_TOO_LONG before appending anything when an index line passes maxIndexLineBytes', async () => {
    const dir = scratch('long-line');
    const root = await smallTree(dir, { h: 2 });
    const index = join(dir, 'index.jsonl');
    writeFileSync(index, `{"episode_id": "ep-0000"}\n{"episode_id": "ep-0001", "pad": "${'x'.repeat(5000)}"}\n`);
    const before = readFileSync(index);
    const result = await backfillIndex({ episodesRoot: root, index, maxIndexLineBytes: 4096 });
    expect(result.isErr() && result.error).toMatchObject({ code: 'LINE_TOO_LONG', context: { path: index, line: 2, limit: 4096 } });
    // The episodes were listed before the index was read: the partial report says so, and that nothing was appended.
    expect(result.isErr() && result.error.partial).toMatchObject({ scanned: 2, appended: 0, rows: [] });
    expect(readFileSync(index).equals(before)).toBe(true);
    expect(existsSync(`${index}.backfill.lock`)).toBe(false);
    // Raised, the same index reads and nothing is missing.
    expect((await backfillIndex({ episodesRoot: root, index, maxIndexLineBytes: 8192 }))._unsafeUnwrap().appended).toBe(0);
  });

  it('starts a fresh line when the index ends in a torn write', async () => {
    const dir = scratch('torn');
    const root = await smallTree(dir, { h: 1 });
    const index = join(dir, 'index.jsonl');
    writeFileSync(index, '{"episode_id": "x"}\n{"episode_id": "tor');
    (await backfillIndex({ episodesRoot: root, index }))._unsafeUnwrap();
    const lines = read(index).split('\n');
    expect(lines[1]).toBe('{"episode_id": "tor');
    expect(JSON.parse(lines[2]!)).toMatchObject({ episode_id: 'ep-0000', host_id: 'h' });
  });

  it('refuses to run while another live backfill holds the lock, and takes over a dead one', async () => {
    const dir = scratch('lock');
    const root = await smallTree(dir, { h: 2 });
    const index = join(dir, 'index.jsonl');
    const lock = `${index}.backfill.lock`;
    const { hostname } = await import('node:os');
    const sleeper = spawn('sleep', ['30']);
    try {
      writeFileSync(lock, `${sleeper.pid}\n${hostname()}\n`);
      const locked = await backfillIndex({ episodesRoot: root, index });
      expect(locked.isErr() && locked.error.code).toBe('LOCKED');
      // Refused before anything was scanned: no partial report.
      expect(locked.isErr() && locked.error.partial).toBeUndefined();
      expect(existsSync(index)).toBe(false);
    } finally {
      sleeper.kill();
    }
    await new Promise((r) => sleeper.once('exit', r));
    const report = (await backfillIndex({ episodesRoot: root, index }))._unsafeUnwrap();
    expect(report.appended).toBe(2);
    expect(existsSync(lock)).toBe(false);
  });

  it('skips what cannot be read at all (a directory, a dangling link) without stopping', async () => {
    const dir = scratch('unreadable');
    const root = await smallTree(dir, { h: 2 });
    mkdirSync(join(root, 'h', 'a-dir.tar.zst'));
    symlinkSync(join(dir, 'nowhere'), join(root, 'h', 'b-dangling.tar.zst'));
    const report = (await backfillIndex({ episodesRoot: root, index: join(dir, 'i.jsonl') }))._unsafeUnwrap();
    expect(report.scanned).toBe(4);
    expect(report.skipped).toBe(2);
    expect(report.rows.map((r) => r.episode_id)).toEqual(['ep-0000', 'ep-0001']);
    expect(report.warnings.map((w) => [w.code, w.path.split('/').pop()])).toEqual([
      ['IO_ERROR', 'a-dir.tar.zst'],
      ['IO_ERROR', 'b-dangling.tar.zst'],
    ]);
  });

  it('reports EPISODES_ROOT_MISSING for a missing root and INVALID_ARGUMENT for bad options', async () => {
    const dir = scratch('missing');
    const missing = await backfillIndex({ episodesRoot: join(dir, 'nope'), index: join(dir, 'i.jsonl') });
    expect(missing.isErr() && missing.error.code).toBe('EPISODES_ROOT_MISSING');
    const bad = await backfillIndex({ episodesRoot: dir, index: join(dir, 'i.jsonl'), concurrency: 0 });
    expect(bad.isErr() && bad.error.code).toBe('INVALID_ARGUMENT');
    // Neither got as far as scanning, so neither carries a partial report.
    expect([missing, bad].map((r) => r.isErr() && r.error.partial)).toEqual([undefined, undefined]);
  });

  it('stops on abort with whole lines in order, and a second run completes the same rows', async () => {
    const dir = scratch('abort');
    const root = await smallTree(dir, { h: 30 });
    const index = join(dir, 'i.jsonl');
    const controller = new AbortController();
    const result = await backfillIndex({
      episodesRoot: root,
      index,
      concurrency: 2,
      signal: controller.signal,
      now: () => FIXED,
      // After 5 of 30 scans, so the abort always lands mid-run. How many rows
      // are appended by then depends on timing (a slow first scan holds back
      // every later row), so the check is on their shape, not their number.
      onProgress: (p) => {
        if (p.done >= 5 && !controller.signal.aborted) controller.abort();
      },
    });
    expect(result.isErr() && result.error.code).toBe('ABORTED');
    const partial = existsSync(index) ? read(index) : '';
    expect(partial === '' || partial.endsWith('\n')).toBe(true);
    const written = partial.split('\n').filter(Boolean);
    expect(written.length).toBeLessThan(30);
    // The error's partial report lists exactly the rows the file received.
    const report = result.isErr() ? result.error.partial : undefined;
    expect(report?.scanned).toBe(30);
    expect(report?.appended).toBe(written.length);
    expect(report?.rows.map((r) => r.episode_id)).toEqual(written.map((l) => (JSON.parse(l) as { episode_id: string }).episode_id));
    (await backfillIndex({ episodesRoot: root, index, now: () => FIXED }))._unsafeUnwrap();
    const full = (await backfillIndex({ episodesRoot: root, index: join(dir, 'full.jsonl'), now: () => FIXED }))._unsafeUnwrap();
    expect(full.appended).toBe(30);
    // What the aborted run wrote is the start of an uninterrupted run's output, and the rerun completes it.
    expect(read(join(dir, 'full.jsonl')).startsWith(partial)).toBe(true);
    expect(read(index)).toBe(read(join(dir, 'full.jsonl')));
  });

  it('keeps every line whole while a receiver appends at the same time', async () => {
    const dir = scratch('receiver');
    const root = await smallTree(dir, { h: 40 });
    const index = join(dir, 'i.jsonl');
    writeFileSync(index, '');
    const receiver = spawn('python3', [
      '-c',
      `import json,sys\nfor i in range(400):\n    with open(sys.argv[1], "a") as f:\n        f.write(json.dumps({"episode_id": "live-%d" % i, "pad": "x" * 300}, sort_keys=True) + "\\n")`,
      index,
    ]);
    // Listen now: the receiver may exit while the backfill runs, and a later listener would wait forever.
    const receiverExited = new Promise((r) => receiver.once('exit', r));
    const report = (await backfillIndex({ episodesRoot: root, index }))._unsafeUnwrap();
    await receiverExited;
    const lines = read(index).split('\n').filter(Boolean);
    expect(lines.length).toBe(440);
    for (const line of lines) expect(() => JSON.parse(line)).not.toThrow();
    expect(report.appended).toBe(40);
  });
});

describe.skipIf(!peerAvailable)(
  `examples/index-backfill.ts vs the runbook's tool${peerAvailable ? '' : ` (skipped: ${peerSkipReason})`}`,
  () => {
    it('prints the same lines and exits with the same codes', async () => {
      const dir = scratch('example');
      await buildTree(join(dir, 'lib'));
      copyTree(join(dir, 'lib'), join(dir, 'py'));
      const args = (side: string, ...more: string[]): string[] => [
        '--episodes-root',
        join(dir, side, 'episodes'),
        '--index',
        join(dir, side, 'index.jsonl'),
        ...more,
      ];
      const norm = (out: string, side: string): string => maskTimes(out).replaceAll(join(dir, side), 'DIR');

      for (const extra of [['--dry-run'], ['--host', 'lab-02', '--dry-run'], ['--host', 'nobody'], ['--host=lab-01'], []]) {
        const ours = runExample(args('lib', ...extra));
        const theirs = runPeer(args('py', ...extra));
        expect({ extra, status: ours.status, out: norm(ours.stdout, 'lib') }).toEqual({
          extra,
          status: theirs.status,
          out: norm(theirs.stdout, 'py'),
        });
      }
      expect(maskTimes(read(join(dir, 'lib', 'index.jsonl')))).toBe(maskTimes(read(join(dir, 'py', 'index.jsonl'))));

      const missingOurs = runExample(['--episodes-root', `${join(dir, 'none')}/`]);
      const missingTheirs = runPeer(['--episodes-root', `${join(dir, 'none')}/`]);
      expect(missingOurs.status).toBe(2);
      expect(missingTheirs.status).toBe(2);
      expect(missingOurs.stderr).toBe(missingTheirs.stderr);
      expect(runExample(['--bogus']).status).toBe(runPeer(['--bogus']).status);
    });
  },
);
