/**
 * Episode trees for the IndexBackfiller tests, built with the library's own
 * fixture builder, plus the runbook's Python tool as a peer to compare with.
 */
import { spawnSync } from 'node:child_process';
import { chownSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync, zstdDecompressSync as decompress } from 'node:zlib';
import { buildEpisodeTarball, type EpisodeTarballOptions } from '../../../src/testing/episode-tarball.js';

export const repoRoot = fileURLToPath(new URL('../../..', import.meta.url));
/** The runbook's `index_backfill.py`, kept outside the repo (never copied in). */
export const peerPath = resolve(repoRoot, '..', 'shared', 'peers', 'index_backfill.py');
const hasTool = (cmd: string, args: string[]): boolean => spawnSync(cmd, args, { stdio: 'ignore' }).status === 0;
export const hasPython = hasTool('python3', ['--version']);
export const hasZstd = hasTool('zstd', ['--version']);
export const peerAvailable = hasPython && hasZstd && existsSync(peerPath);
export const peerSkipReason = !existsSync(peerPath)
  ? `needs the runbook's tool at ${peerPath}`
  : !hasPython
    ? 'needs python3'
    : 'needs the zstd CLI (apt-get install zstd)';
if (!peerAvailable) console.warn(`[index-backfill] peer comparison tests skipped: ${peerSkipReason}`);

export function scratch(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `backfill-kit-ib-${prefix}-`));
}

export const COMMIT = 'c0ffee00112233445566778899aabbccddeeff00';
export const UPPER_COMMIT = 'ABCDEF0123456789ABCDEF0123456789ABCDEF01';

/**
 * A scratch tree with one small tarball per id under host `h`, and the path
 * of an index beside it (written with `indexText` when given).
 */
export async function smallTree(
  prefix: string,
  ids: readonly string[],
  indexText?: string,
): Promise<{ dir: string; root: string; index: string }> {
  const dir = scratch(prefix);
  const root = join(dir, 'episodes');
  for (const id of ids)
    await episode(join(root, 'h', `${id}.tar.zst`), { meta: { code_version: { commit: COMMIT } }, files: { 'a.bin': Buffer.alloc(10) } });
  const index = join(dir, 'index.jsonl');
  if (indexText !== undefined) writeFileSync(index, indexText);
  return { dir, root, index };
}

async function episode(path: string, options: EpisodeTarballOptions): Promise<Buffer> {
  return (await buildEpisodeTarball({ ...options, path }))._unsafeUnwrap().bytes;
}

const meta = (commit: unknown): Record<string, unknown> => ({ episode: 'x', code_version: { commit, branch: 'main' } });

/**
 * Several hosts, two episodes already indexed, a corrupt tarball, one with no
 * `meta.json`, one whose commit is uppercase, and the runbook tool's edge cases.
 * Returns the tree's root and an index holding the pre-existing rows.
 */
export async function buildTree(dir: string): Promise<{ root: string; index: string; existingLines: string }> {
  const root = join(dir, 'episodes');
  const data = (n: number): Buffer => Buffer.from(Array.from({ length: n }, (_, i) => (i * 7919) % 251));
  // lab-01: ordinary episodes, one uppercase commit, one already indexed.
  for (const id of ['ep-0002', 'ep-0001', 'ep-0010', 'ep-dup'])
    await episode(join(root, 'lab-01', `${id}.tar.zst`), { meta: meta(COMMIT), files: { 'frames.bin': data(20_000) } });
  await episode(join(root, 'lab-01', 'ep-0003.tar.zst'), { meta: meta(UPPER_COMMIT), files: { 'frames.bin': data(3000) } });
  // lab-02: corrupt, no meta.json, truncated (meta last, so both tools lose it), non-matching names.
  const good = await episode(join(root, 'lab-02', 'ep-0100.tar.zst'), { meta: meta(COMMIT), files: { 'a.bin': data(5000) } });
  const corrupt = Buffer.from(good);
  corrupt.fill(0xa5, 4, 40);
  writeFileSync(join(root, 'lab-02', 'ep-corrupt.tar.zst'), corrupt);
  await episode(join(root, 'lab-02', 'ep-nometa.tar.zst'), { meta: null, files: { 'a.bin': data(100) } });
  const tail = await episode(join(dir, 'tail.tar.zst'), {
    meta: meta(COMMIT),
    metaLast: true,
    files: { 'big.bin': Buffer.from(data(300_000).map((b, i) => (b * i) & 255)) },
  });
  writeFileSync(join(root, 'lab-02', 'ep-truncated.tar.zst'), tail.subarray(0, Math.floor(tail.length / 2)));
  writeFileSync(join(root, 'lab-02', 'notes.txt'), 'not an episode');
  writeFileSync(join(root, 'lab-02', 'ep-0101.tar.zst.partial'), 'partial upload');
  // lab-10: the runbook tool's matching rules and odd metadata.
  const odd: [string, EpisodeTarballOptions][] = [
    ['ep-subdir', { meta: meta(COMMIT), metaName: 'ep-subdir/meta.json', files: { 'ep-subdir/frames.bin': data(1000) } }],
    ['ep-suffix', { meta: meta(UPPER_COMMIT), metaName: 'episode-meta.json', files: {} }],
    ['ep-last', { meta: meta(COMMIT), metaLast: true, files: { 'z.bin': data(70_000) } }],
    ['ep-nonhex', { meta: meta('Z'.repeat(40)), files: {} }],
    ['ep-short', { meta: meta(COMMIT.slice(1)), files: {} }],
    ['ep-nocv', { meta: { episode: 'x' }, files: {} }],
    ['ep-cvlist', { meta: { code_version: [COMMIT] }, files: {} }],
    ['ep-badjson', { meta: '{"code_version": {"commit": ', files: {} }],
    ['ep-nan', { meta: `{"duration": NaN, "code_version": {"commit": "${UPPER_COMMIT}"}}`, files: {} }],
    ['ep-bom', { meta: `\ufeff{"code_version": {"commit": "${COMMIT}"}}`, files: {} }],
    ['ep-astral', { meta: meta('\u{1f600}'.repeat(40)), files: {} }],
    ['ep-dup', { meta: meta(UPPER_COMMIT), files: {} }],
    ['ep-\u{e000}', { meta: meta(COMMIT), files: {} }],
    ['ep-\u{1f600}', { meta: meta(COMMIT), files: {} }],
    ['ep-Ü', { meta: meta(COMMIT), files: {} }],
  ];
  for (const [id, options] of odd) await episode(join(root, 'lab-10', `${id}.tar.zst`), options);
  const gz = gzipSync(decompress(good));
  writeFileSync(join(root, 'lab-10', 'ep-gzip.tar.zst'), gz);
  writeFileSync(join(root, 'lab-10', 'ep-plain.tar.zst'), decompress(good));
  writeFileSync(join(root, 'lab-10', 'ep-empty.tar.zst'), '');
  // Lab-03 sorts before lab-01 (uppercase first), as in Python.
  await episode(join(root, 'Lab-03', 'ep-0300.tar.zst'), { meta: meta(COMMIT), files: {} });
  writeFileSync(join(root, 'README'), 'not a host');
  mkdirSync(join(root, 'empty-host'));

  const index = join(dir, 'index.jsonl');
  const existingLines = [
    '{"backfilled": false, "episode_id": "ep-0001", "host_id": "lab-01", "received_at_wall": "2026-01-01T00:00:00+00:00", "schema_version": 1, "sha256": "00", "size_bytes": 1}',
    'this line is not json {',
    '',
    '{"episode_id": 42, "host_id": "lab-02"}',
    '{"episode_id": "ep-0100", "host_id": "lab-02", "note": "written by the receiver"}',
    '', // the file ends with a line break
  ].join('\n');
  writeFileSync(index, existingLines);
  return { root, index, existingLines };
}

/** The receiver's user in the root-only tests: it owns the receiver's directory. */
export const RECEIVER_UID = 65534; // nobody

/** A receiver's directory owned by {@link RECEIVER_UID}, with one episode tarball and no index yet. */
export async function receiverTree(prefix: string): Promise<{ lib: string; root: string; index: string }> {
  const lib = join(scratch(prefix), 'lib');
  const root = join(lib, 'episodes');
  mkdirSync(root, { recursive: true });
  await episode(join(root, 'h', 'e1.tar.zst'), { meta: { code_version: { commit: COMMIT } }, files: { 'a.bin': Buffer.alloc(100) } });
  chownSync(lib, RECEIVER_UID, RECEIVER_UID);
  return { lib, root, index: join(lib, 'index.jsonl') };
}

/** A copy of `dir` (tree and index) for the other tool. */
export function copyTree(dir: string, to: string): void {
  cpSync(dir, to, { recursive: true });
}

export interface PeerRun {
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs the runbook's Python tool. */
export function runPeer(args: string[]): PeerRun {
  const r = spawnSync('python3', [peerPath, ...args], { encoding: 'utf8' });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Runs `examples/index-backfill.ts` under tsx. */
export function runExample(args: string[]): PeerRun {
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(repoRoot, 'examples', 'index-backfill.ts'), ...args], {
    encoding: 'utf8',
    cwd: repoRoot,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

export const read = (path: string): string => readFileSync(path, 'utf8');

/** Python's `datetime.now(timezone.utc).isoformat()` shape. */
export const ISO_PY = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{6})?\+00:00$/;

/** Replaces every `received_at_wall` value, so files from both tools compare byte for byte. */
export const maskTimes = (text: string): string => text.replace(/"received_at_wall": "[^"]*"/g, '"received_at_wall": "T"');
