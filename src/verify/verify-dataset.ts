import { lstat, readdir, readFile, readlink, realpath, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { ResultAsync, errAsync, ok, safeTry } from 'neverthrow';
import { BackfillError, toBackfillError } from '../errors.js';
import { isSha256Hex } from '../_internals/sha256-hex.js';
import { tempPrefix } from '../_internals/owned-temp.js';
import { loggerOf, type Logger } from '../_internals/logger.js';
import { progressOf, type ProgressReporter } from '../_internals/progress.js';
import { MANIFEST_NAME, readDataset } from '../dataset/index.js';
import type { Compression, DatasetManifest, DatasetStats, ManifestMember, MemberStats } from '../dataset/index.js';
import { parseChecksums, type ChecksumLine, type MalformedChecksumLine } from './checksums-file.js';
import { SHA256SUMS_FILE_NAME } from './defaults.js';
import { readWholeFile } from './read-whole-file.js';
import { joinBytes } from './safe-path.js';

/** A per-member check. */
export type MemberCheck = 'records' | 'bytes' | 'sha256';

/**
 * - `ok`: every check that ran matched;
 * - `mismatch`: a record count, size or hash differs (see `mismatches`);
 * - `missing-from-archive`: the manifest lists it, the archive lacks it;
 * - `missing-from-manifest`: the archive holds it, the manifest does not list it.
 */
export type MemberVerdict = 'ok' | 'mismatch' | 'missing-from-archive' | 'missing-from-manifest';

/** Expected (manifest) and actual (archive) values for one member, and the verdict. */
export interface MemberVerification {
  readonly name: string;
  readonly verdict: MemberVerdict;
  /** From `manifest.json`; `null` when the manifest does not list the member. */
  readonly expected: { readonly records: number; readonly bytes?: number; readonly sha256?: string } | null;
  /** Measured while reading; `null` when the archive lacks the member. */
  readonly actual: { readonly records: number | null; readonly bytes: number; readonly sha256: string } | null;
  /** The checks that ran (`bytes` and `sha256` only when the manifest records them). */
  readonly checks: readonly MemberCheck[];
  /** The checks that failed. */
  readonly mismatches: readonly MemberCheck[];
}

/** Where the tarball's expected SHA-256 came from. */
export type ExpectedSha256Source = 'option' | 'sha256-file' | 'SHA256SUMS';

/** The tarball itself: its SHA-256 as stored, against the recorded value. */
export interface ArchiveVerification {
  readonly path: string;
  readonly compression: Compression;
  /** Size as stored (compressed). */
  readonly bytes: number;
  /** Size of the uncompressed tar stream. */
  readonly tarBytes: number;
  readonly actualSha256: string;
  readonly expectedSha256: string | null;
  readonly expectedFrom: ExpectedSha256Source | null;
  /** The `.sha256` or `SHA256SUMS` file used, when one was. */
  readonly expectedFile: string | null;
  /** `not-checked` when no expected SHA-256 was given or found. */
  readonly verdict: 'ok' | 'mismatch' | 'not-checked';
}

/** Which kinds of check ran anywhere in the report. */
export interface VerifyChecks {
  readonly archiveSha256: boolean;
  readonly memberRecords: boolean;
  readonly memberBytes: boolean;
  readonly memberSha256: boolean;
}

/** What {@link verifyDataset} found. */
export interface VerifyReport {
  /** `false` on any mismatch, missing member, tarball hash mismatch or manifest problem. */
  readonly ok: boolean;
  readonly archive: ArchiveVerification;
  /** Manifest members in manifest order, then members the manifest does not list, in archive order. */
  readonly members: readonly MemberVerification[];
  readonly checks: VerifyChecks;
  /** The parsed manifest; `null` when it is missing or invalid (see `problems`). */
  readonly manifest: DatasetManifest | null;
  /** One coded error per problem: `CHECKSUM_MISMATCH`, `MANIFEST_MISMATCH`, `MANIFEST_MISSING`, `MANIFEST_INVALID`. */
  readonly problems: readonly BackfillError[];
}

/** Progress of {@link verifyDataset}: called as each member has been read. */
export interface VerifyDatasetProgress {
  readonly membersDone: number;
  /** The member read last. */
  readonly member: string;
}

/** Options for {@link verifyDataset}. */
export interface VerifyDatasetOptions {
  /**
   * The tarball's expected SHA-256 (64 hex digits). Without it, a sibling
   * `<file>.sha256` and a `SHA256SUMS` in the same directory are used
   * when they exist and name the file (a `.sha256` that names only other
   * files is `CHECKSUM_LINE_MALFORMED`; `SHA256SUMS` lines naming other
   * files are passed over; `SHA256SUMS` in any spelling that
   * `sha256sum --check` opens it by there: `.//ds.tar.zst`,
   * `sub/../ds.tar.zst`, a symlink to the directory). When both do, they
   * must record one digest (`CHECKSUM_LINE_MALFORMED` otherwise).
   */
  readonly expectedSha256?: string;
  /**
   * Look for `<file>.sha256` and `SHA256SUMS` next to the tarball. Either
   * is read only when it is a regular file or a symlink to one; anything
   * else there (a FIFO, a device, a symlink to a missing file) is `IO_ERROR`.
   * @defaultValue `true`
   */
  readonly useSiblingChecksums?: boolean;
  /**
   * Passed to the reader (decompression-bomb guard).
   * @defaultValue `DEFAULT_MAX_DECOMPRESSED_BYTES` (64 GiB)
   */
  readonly maxDecompressedBytes?: number;
  /**
   * Passed to the reader (decompression-bomb guard); `Infinity` turns the check off.
   * @defaultValue `DEFAULT_MAX_COMPRESSION_RATIO` (200)
   */
  readonly maxCompressionRatio?: number;
  /**
   * Passed to the reader.
   * @defaultValue `DEFAULT_MAX_LINE_BYTES` (64 MiB)
   */
  readonly maxLineBytes?: number;
  /**
   * Passed to the reader (most entries, files and directories, the archive may hold).
   * @defaultValue `DEFAULT_MAX_ENTRIES` (10,000)
   */
  readonly maxEntries?: number;
  /** Stops the work; the result is then `Err` with `ABORTED`. */
  readonly signal?: AbortSignal;
  /** Called as each file (or member) has been read. A callback that throws is ignored (logged once at warn). */
  readonly onProgress?: (progress: VerifyDatasetProgress) => void;
  /** Receives a summary line at the end. */
  readonly logger?: Logger;
}

/** Where the tarball's expected SHA-256 came from. */
export interface Expected {
  readonly sha256: string;
  readonly from: ExpectedSha256Source;
  readonly file: string | null;
}

/** A checksum file beside the tarball is read only when it is a regular file: a FIFO there would be waited on for ever. */
const SIBLING_NOT_REGULAR_FIX =
  'a checksum file beside a dataset is read only when it is one. Remove it, or pass expectedSha256 (--expected-sha256) or useSiblingChecksums: false (--no-sibling-checksums).';

/**
 * A checksum file beside the tarball, or `undefined` when there is none.
 * A symlink there whose target is missing is refused, not taken for no
 * file: `sha256sum --check` of it fails, and skipping it would leave the
 * tarball unchecked (`dataset import` loading it) while the link still
 * says a digest was recorded.
 */
async function readIfExists(path: string, signal: AbortSignal | undefined): Promise<Buffer | undefined> {
  try {
    return await readWholeFile(path, signal, { fix: SIBLING_NOT_REGULAR_FIX });
  } catch (error) {
    if ((error as { code?: unknown }).code !== 'ENOENT') throw toBackfillError(error, 'IO_ERROR', { path });
    const target = await readlink(path).catch(() => undefined);
    if (target === undefined) return undefined;
    throw new BackfillError(
      'IO_ERROR',
      `${path} is a symbolic link to ${target}, which does not exist, so it records no digest and sha256sum --check of it fails. Point it at the checksum file, remove it, or pass expectedSha256 (--expected-sha256) or useSiblingChecksums: false (--no-sibling-checksums).`,
      { cause: error, context: { path } },
    );
  }
}

/**
 * The expected tarball SHA-256 from the option, `<file>.sha256` or `SHA256SUMS`, if any
 * (also how `backfill-kit dataset import` finds the digest `dataset build` recorded).
 */
export function findExpected(path: string, options: VerifyDatasetOptions): ResultAsync<Expected | undefined, BackfillError> {
  return ResultAsync.fromPromise(expectedFrom(path, options), (e) => toBackfillError(e, 'IO_ERROR', { path }));
}

async function expectedFrom(path: string, options: VerifyDatasetOptions): Promise<Expected | undefined> {
  if (options.expectedSha256 !== undefined) return { sha256: options.expectedSha256.toLowerCase(), from: 'option', file: null };
  if (options.useSiblingChecksums === false) return undefined;
  const name = basename(path);
  const sidecar = await fromSidecar(path, name, options.signal);
  const sums = await fromSums(path, name, options.signal);
  // Both record the tarball: `sha256sum --check` of either must pass, so a stale one is refused, not passed over.
  if (sidecar !== undefined && sums !== undefined && sidecar.sha256 !== sums.sha256) {
    throw new BackfillError(
      'CHECKSUM_LINE_MALFORMED',
      `${path}.sha256 records ${sidecar.sha256} for ${name} but ${SHA256SUMS_FILE_NAME} beside it records ${sums.sha256}; one of them is stale, and sha256sum --check fails the tarball against one of them whatever it is. Fix the stale one or pass expectedSha256.`,
      { context: { path: join(dirname(path), SHA256SUMS_FILE_NAME) } },
    );
  }
  return sidecar ?? sums;
}

/** The digest `<file>.sha256` records for the tarball `name`, if that file exists. */
async function fromSidecar(path: string, name: string, signal: AbortSignal | undefined): Promise<Expected | undefined> {
  const sidecar = `${path}.sha256`;
  const sidecarText = await readIfExists(sidecar, signal);
  if (sidecarText !== undefined) {
    const bare = sidecarText.toString('utf8').trim();
    if (isSha256Hex(bare)) return { sha256: bare.toLowerCase(), from: 'sha256-file', file: sidecar };
    const { entries, malformed } = parseChecksums(sidecarText);
    // `sha256sum dir/x.tar.zst > x.tar.zst.sha256` records the path it was given: match the base name.
    // `sha256sum < x.tar.zst > x.tar.zst.sha256` records `-`, standard input: no other file, so it stands for the tarball.
    // Not `ds.tar.zst/`, which basename() reads as `ds.tar.zst` but sha256sum --check fails to open (not a directory).
    const names = (listed: string): boolean => (basename(listed) === name && !listed.endsWith('/')) || listed === '-';
    refuseMalformedLineNaming(
      sidecarText,
      malformed.filter((m) => m.fatal),
      sidecar,
      name,
      names,
    );
    const naming = await namingTarball(path, entries, names);
    const sha256 = agreedDigest(
      entries.filter((_, i) => naming[i]),
      sidecar,
      name,
    );
    if (sha256 === undefined) {
      refuseMalformedLineNaming(sidecarText, malformed, sidecar, name, names);
      refuseLineNamingOther(entries, sidecar, name);
      throw new BackfillError(
        'CHECKSUM_LINE_MALFORMED',
        `${sidecar} holds no SHA-256 for ${name}; write it with sha256sum or pass expectedSha256.`,
        { context: { path: sidecar } },
      );
    }
    return { sha256, from: 'sha256-file', file: sidecar };
  }
  return undefined;
}

/** The digest a `SHA256SUMS` beside the tarball `name` records for it, if that file exists and names it. */
async function fromSums(path: string, name: string, signal: AbortSignal | undefined): Promise<Expected | undefined> {
  const sums = join(dirname(path), SHA256SUMS_FILE_NAME);
  const sumsText = await readIfExists(sums, signal);
  if (sumsText === undefined) return undefined;
  const parsed = parseChecksums(sumsText);
  const names = (listed: string): boolean => spelledInDirectory(listed) === name;
  // sha256sum --check checks a line with a NUL byte (its name cut at the NUL): one naming the tarball is refused, never skipped.
  refuseMalformedLineNaming(
    sumsText,
    parsed.malformed.filter((m) => m.fatal),
    sums,
    name,
    names,
  );
  // One line at a time, each directory spelling resolved once: a sums file of 200,000 `sub/../ds.tar.zst` lines
  // asked for 400,000 real paths at once, taking seconds and gigabytes.
  const leadsHere = new DirectoryMatch(dirname(path));
  const entries: ChecksumLine[] = [];
  for (const e of parsed.entries) if (await namesFileIn(leadsHere, name, e)) entries.push(e);
  const sha256 = agreedDigest(entries, sums, name);
  if (sha256 === undefined) refuseMalformedLineNaming(sumsText, parsed.malformed, sums, name, names);
  return sha256 === undefined ? undefined : { sha256, from: 'SHA256SUMS', file: sums };
}

/**
 * A listed name with its `.` and empty segments dropped, as the kernel
 * reads them: `./x`, `.//x` and `././x` are all `x`.
 */
function spelledInDirectory(listed: string): string {
  return listed
    .split('/')
    .filter((segment) => segment !== '' && segment !== '.')
    .join('/');
}

/**
 * Whether a line of the `SHA256SUMS` in `dir` names the file `name` in
 * `dir`, as `sha256sum --check` run there opens it: its last segment is
 * `name` and the rest leads to `dir` (`./`, `.//`, `sub/../`, the
 * directory's own absolute path, a symlink to it), every `..` and symlink
 * resolved by the file system, not by the spelling.
 */
async function namesFileIn(dir: DirectoryMatch, name: string, entry: ChecksumLine): Promise<boolean> {
  const listed = entry.pathBytes;
  const slash = listed.lastIndexOf(0x2f);
  if (!listed.subarray(slash + 1).equals(Buffer.from(name, 'utf8'))) return false;
  if (slash < 0) return true;
  const parent = listed.subarray(0, slash + 1);
  const absolute = listed[0] === 0x2f;
  // Only `.` and empty segments before the name: no need to ask the file system.
  if (!absolute && spelledInDirectory(parent.toString('latin1')) === '') return true;
  return dir.leadsHere(parent);
}

/** Whether directory spellings, as a sums file in `dir` lists them, lead to `dir`: each spelling resolved once. */
class DirectoryMatch {
  readonly #dir: string;
  #own: Promise<Buffer | undefined> | undefined;
  readonly #known = new Map<string, boolean>();

  constructor(dir: string) {
    this.#dir = dir;
  }

  async leadsHere(parent: Buffer): Promise<boolean> {
    const key = parent.toString('latin1');
    const known = this.#known.get(key);
    if (known !== undefined) return known;
    this.#own ??= realpath(this.#dir, { encoding: 'buffer' }).catch(() => undefined);
    const [listedDir, ownDir] = await Promise.all([
      realpath(parent[0] === 0x2f ? parent : joinBytes(this.#dir, parent), { encoding: 'buffer' }).catch(() => undefined),
      this.#own,
    ]);
    const here = listedDir !== undefined && ownDir !== undefined && listedDir.equals(ownDir);
    this.#known.set(key, here);
    return here;
  }
}

/**
 * Refuses a sums file whose only line naming the tarball is malformed (a
 * byte-order mark before the digest, a stray character): `sha256sum --check`
 * skips such a line with a warning, but here skipping it would leave the
 * tarball unchecked, reported as having no recorded digest at all (or, for
 * a `.sha256`, refused without saying why). Given the lines with a NUL
 * byte, it refuses any of them naming the tarball, well-formed lines or
 * not: `sha256sum --check` checks such a line, its name cut at the NUL.
 * `names` tells a listed name that stands for the tarball, as it does for
 * the well-formed lines.
 */
function refuseMalformedLineNaming(
  text: Buffer,
  malformed: readonly MalformedChecksumLine[],
  file: string,
  name: string,
  names: (listed: string) => boolean,
): void {
  // Nothing to look for: not even split the text into lines (16 MiB of empty lines took seconds and a gigabyte).
  if (malformed.length === 0) return;
  // Up to a NUL byte, as sha256sum reads a line's name.
  const lines = text
    .toString('utf8')
    .split('\n')
    .map((line) => line.split('\0')[0] as string);
  // The name in `SHA256 (name) = …` (or `SHA256 (name` cut at a NUL), or the last word of `hash  name` / `hash *name`.
  const listed = (line: string): (string | undefined)[] => [/\(([^)]*)\)?/.exec(line)?.[1], line.trimEnd().split(/[\s*]/).pop()];
  const bad = malformed.find((m) => listed(lines[m.line - 1] ?? '').some((n) => n !== undefined && names(n)));
  if (bad === undefined) return;
  throw new BackfillError(
    'CHECKSUM_LINE_MALFORMED',
    `${file} line ${bad.line} names ${name} but is improperly formatted (${bad.reason}), so it records no digest for it; fix the line or pass expectedSha256.`,
    { context: { path: file, line: bad.line } },
  );
}

/** How many other names a `.sha256` lists are looked up as the tarball under another name: a sidecar names one file. */
const SAME_FILE_LOOKUPS = 16;

/**
 * For each `.sha256` line, whether it names the tarball: by its base name
 * (`names`), or as the very file the tarball is, the name read from the
 * tarball's directory (the `v3.tar.zst.sha256` that
 * `latest.tar.zst.sha256` is a copy of or a symlink to, beside a
 * `latest.tar.zst` that leads to `v3.tar.zst`). The first
 * {@link SAME_FILE_LOOKUPS} other names are looked up, one at a time, so a
 * sidecar of many lines costs no more than a few `stat`s.
 */
async function namingTarball(path: string, entries: readonly ChecksumLine[], names: (listed: string) => boolean): Promise<boolean[]> {
  const own = await stat(path).catch(() => undefined);
  const looked = new Map<string, boolean>();
  const naming: boolean[] = [];
  for (const e of entries) {
    if (names(e.path)) {
      naming.push(true);
      continue;
    }
    const key = e.pathBytes.toString('latin1');
    let same = looked.get(key);
    if (same === undefined) {
      same = own !== undefined && looked.size < SAME_FILE_LOOKUPS && (await isFile(own, dirname(path), e.pathBytes));
      looked.set(key, same);
    }
    naming.push(same);
  }
  return naming;
}

async function isFile(own: { dev: number; ino: number }, dir: string, listed: Buffer): Promise<boolean> {
  const other = await stat(listed[0] === 0x2f ? listed : joinBytes(dir, listed)).catch(() => undefined);
  return other !== undefined && other.dev === own.dev && other.ino === own.ino;
}

/**
 * Refuses a `.sha256` whose well-formed lines all name another file
 * (`<digest>  other.tar.zst`, a sidecar copied or renamed along with the
 * wrong tarball): `sha256sum --check` of it checks that other file, never
 * the tarball, so its digest is not the tarball's, whichever it matches.
 */
function refuseLineNamingOther(entries: readonly ChecksumLine[], file: string, name: string): void {
  const [first] = entries;
  if (first === undefined) return;
  const others = [...new Set(entries.map((e) => e.path))];
  const listed =
    others.length === 1 ? first.path : `${others.length} other files (${others.slice(0, 3).join(', ')}${others.length > 3 ? ', …' : ''})`;
  throw new BackfillError(
    'CHECKSUM_LINE_MALFORMED',
    `${file} records a digest for ${listed}, not for ${name}, so sha256sum --check of it checks ${others.length === 1 ? 'that file' : 'those'}, not the tarball; write it with sha256sum ${name} or pass expectedSha256.`,
    { context: { path: file, line: first.line } },
  );
}

/**
 * The digest the lines naming the tarball give, if any. Lines that disagree
 * are refused: `sha256sum --check` fails one of them whichever comes first,
 * so taking the first would pass a file that the sums file also fails.
 */
function agreedDigest(entries: readonly ChecksumLine[], file: string, name: string): string | undefined {
  const [first] = entries;
  if (first === undefined || entries.every((e) => e.sha256 === first.sha256)) return first?.sha256;
  throw new BackfillError(
    'CHECKSUM_LINE_MALFORMED',
    `${file} lists ${name} ${entries.length} times with different digests (lines ${entries.map((e) => e.line).join(' and ')}); remove the stale line.`,
    { context: { path: file } },
  );
}

function compareMember(expected: ManifestMember, actual: MemberStats<string> | undefined): MemberVerification {
  const want = {
    records: expected.records,
    ...(expected.bytes === undefined ? {} : { bytes: expected.bytes }),
    ...(expected.sha256 === undefined ? {} : { sha256: expected.sha256.toLowerCase() }),
  };
  if (actual === undefined)
    return { name: expected.name, verdict: 'missing-from-archive', expected: want, actual: null, checks: [], mismatches: [] };
  const checks: MemberCheck[] = ['records'];
  const mismatches: MemberCheck[] = actual.records === want.records ? [] : ['records'];
  if (want.bytes !== undefined) {
    checks.push('bytes');
    if (actual.bytes !== want.bytes) mismatches.push('bytes');
  }
  if (want.sha256 !== undefined) {
    checks.push('sha256');
    if (actual.sha256 !== want.sha256) mismatches.push('sha256');
  }
  return {
    name: expected.name,
    verdict: mismatches.length === 0 ? 'ok' : 'mismatch',
    expected: want,
    actual: { records: actual.records, bytes: actual.bytes, sha256: actual.sha256 },
    checks,
    mismatches,
  };
}

/**
 * Where two names would be one file on a case-insensitive or normalising
 * file system (macOS's, Windows'): the same once in NFKC and lower case,
 * trailing dots and spaces of each segment dropped.
 */
function lookAlikeKey(name: string): string {
  return name
    .normalize('NFKC')
    .toLowerCase()
    .split('/')
    .map((segment) => segment.replace(/[. ]+$/, ''))
    .join('/');
}

/** `name` quoted, with everything but printable ASCII as `\uXXXX`, so that two look-alike names read apart. */
function spelled(name: string): string {
  return JSON.stringify(name).replace(/[^\x20-\x7e]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/**
 * For each member missing on one side, the look-alike name the other side
 * has instead, if any: printed as they are, `é.ndjson` in NFC and in NFD
 * read the same, and the report would seem to contradict itself.
 */
function lookAlikes(members: readonly MemberVerification[]): Map<MemberVerification, string> {
  const missing = (verdict: MemberVerdict): Map<string, string> =>
    new Map(members.filter((m) => m.verdict === verdict).map((m) => [lookAlikeKey(m.name), m.name]));
  const fromArchive = missing('missing-from-archive');
  const fromManifest = missing('missing-from-manifest');
  const found = new Map<MemberVerification, string>();
  for (const m of members) {
    const other = (
      m.verdict === 'missing-from-archive' ? fromManifest : m.verdict === 'missing-from-manifest' ? fromArchive : undefined
    )?.get(lookAlikeKey(m.name));
    if (other !== undefined) found.set(m, other);
  }
  return found;
}

/** The report's problems for one member: none when it is `ok`. */
function memberProblems(m: MemberVerification, lookAlike: string | undefined): BackfillError[] {
  const context = { member: m.name };
  const hint =
    lookAlike === undefined
      ? ''
      : `; the ${m.verdict === 'missing-from-archive' ? 'archive has' : 'manifest lists'} ${spelled(lookAlike)}, which differs from ${spelled(m.name)} only in case, Unicode normalization or trailing dots and spaces (names macOS or Windows may take for one file)`;
  if (m.verdict === 'missing-from-archive')
    return [new BackfillError('MANIFEST_MISMATCH', `${m.name}: listed in manifest.json but not in the archive${hint}.`, { context })];
  if (m.verdict === 'missing-from-manifest')
    return [new BackfillError('MANIFEST_MISMATCH', `${m.name}: in the archive but not listed in manifest.json${hint}.`, { context })];
  if (m.verdict !== 'mismatch') return [];
  const details = m.mismatches.map((check) => `${check} expected ${String(m.expected?.[check])}, got ${String(m.actual?.[check])}`);
  return [
    new BackfillError('MANIFEST_MISMATCH', `${m.name}: ${details.join('; ')}.`, {
      context: { ...context, ...(m.actual ? { digest: m.actual.sha256 } : {}) },
    }),
  ];
}

/**
 * The unfinished `.sha256` a write of `path` left beside `sidecar` that
 * records `sha256` (the tarball's actual digest), if any: `writeDataset`
 * stages the new `.sha256` before it renames the tarball and renames it
 * right after, so a process killed between the two renames leaves the new
 * tarball, the old `.sha256`, and this file (until the next write removes
 * it). It only explains a mismatch; it is never trusted to pass one.
 */
async function pendingSidecar(path: string, sidecar: string, sha256: string): Promise<string | undefined> {
  const prefix = tempPrefix(basename(sidecar));
  const names = await readdir(dirname(sidecar)).catch(() => [] as string[]);
  for (const name of names.filter((n) => n.startsWith(prefix)).slice(0, 16)) {
    const file = join(dirname(sidecar), name);
    const kind = await lstat(file).catch(() => undefined);
    if (kind === undefined || !kind.isFile() || kind.size > 64 * 1024) continue;
    const text = await readFile(file).catch(() => undefined);
    if (text === undefined) continue;
    const lines = parseChecksums(text).entries;
    if (lines.length === 1 && basename(lines[0]!.path) === basename(path) && lines[0]!.sha256 === sha256) return name;
  }
  return undefined;
}

/**
 * The one `CHECKSUM_MISMATCH` message for `path`, whose SHA-256 is `actual`,
 * against the `expected` digest that `findExpected` found: when that came
 * from a `.sha256` a killed write left stale, it says so and to rebuild.
 * `dataset verify` and `dataset import` both use it.
 */
export async function checksumMismatchMessage(path: string, expected: Expected, actual: string): Promise<string> {
  const where = expected.file ?? 'expectedSha256';
  const pending = expected.from === 'sha256-file' && expected.file !== null ? await pendingSidecar(path, expected.file, actual) : undefined;
  const advice =
    pending === undefined
      ? 'the file changed or is corrupt.'
      : `${where} is stale: a write of ${basename(path)} was stopped (or is still running) after it replaced the tarball and before it replaced ${basename(where)}, ` +
        `whose unfinished copy ${pending} records this tarball's digest. Rebuild the dataset to get a matching pair; until then do not use this tarball.`;
  return `${path}: sha256 is ${actual}, ${where} says ${expected.sha256}; ${advice}`;
}

function buildReport(
  path: string,
  stats: DatasetStats<string>,
  manifest: DatasetManifest | null,
  manifestError: BackfillError | null,
  expected: Expected | undefined,
  mismatch: string | undefined,
): VerifyReport {
  const archive: ArchiveVerification = {
    path,
    compression: stats.compression,
    bytes: stats.bytes,
    tarBytes: stats.tarBytes,
    actualSha256: stats.sha256,
    expectedSha256: expected?.sha256 ?? null,
    expectedFrom: expected?.from ?? null,
    expectedFile: expected?.file ?? null,
    verdict: expected === undefined ? 'not-checked' : expected.sha256 === stats.sha256 ? 'ok' : 'mismatch',
  };
  const problems: BackfillError[] = [];
  if (archive.verdict === 'mismatch') {
    problems.push(
      new BackfillError('CHECKSUM_MISMATCH', mismatch ?? `${path}: sha256 is ${stats.sha256}.`, {
        context: { path, digest: stats.sha256 },
      }),
    );
  }
  if (manifestError) problems.push(manifestError);
  const actualByName = new Map(stats.members.map((m) => [m.name, m]));
  const members: MemberVerification[] = [];
  if (manifest) {
    const listed = new Set(manifest.members.map((m) => m.name));
    for (const entry of manifest.members) members.push(compareMember(entry, actualByName.get(entry.name)));
    for (const actual of stats.members) {
      if (actual.name === MANIFEST_NAME || listed.has(actual.name)) continue;
      members.push({
        name: actual.name,
        verdict: 'missing-from-manifest',
        expected: null,
        actual: { records: actual.records, bytes: actual.bytes, sha256: actual.sha256 },
        checks: [],
        mismatches: [],
      });
    }
  }
  // One push per member: spreading a manifest's worth of problems into one call overflows the stack (about 120,000 arguments).
  const alike = lookAlikes(members);
  for (const m of members) problems.push(...memberProblems(m, alike.get(m)));
  const ran = (check: MemberCheck): boolean => members.some((m) => m.checks.includes(check));
  const checks = {
    archiveSha256: archive.verdict !== 'not-checked',
    memberRecords: ran('records'),
    memberBytes: ran('bytes'),
    memberSha256: ran('sha256'),
  };
  return { ok: problems.length === 0, archive, members, checks, manifest, problems };
}

/**
 * Verifies a dataset tarball in one streaming pass: the SHA-256 of the file
 * as stored (against `expectedSha256`, or a sibling `<file>.sha256` /
 * `SHA256SUMS`), and every member's record count, byte count and SHA-256
 * against `manifest.json` (bytes and hashes when the manifest records them).
 * The manifest may sit anywhere in the archive. Members the manifest does
 * not list and manifest entries the archive lacks are both mismatches.
 *
 * Replaces the dataset runbook's "record the SHA-256 of the tarball" and "counts align
 * with manifest.json" checks.
 *
 * `Ok(report)` whenever the archive could be read to its end: check
 * `report.ok`, and `report.problems` for the coded reasons. `Err` when it
 * could not be read (missing file, corrupt or truncated compression or tar,
 * unsafe member names, aborted), or when a sibling `.sha256` file names no
 * hash for it (or names only other files), or it or `SHA256SUMS` names the tarball twice with different
 * digests, or the two record different digests (`CHECKSUM_LINE_MALFORMED`).
 *
 * @example
 * ```ts
 * const result = await verifyDataset('out/linksets/linksets-stage-backfill.tar.zst');
 * if (result.isErr()) throw result.error;
 * for (const m of result.value.members) console.log(m.name, m.verdict, m.expected?.records, m.actual?.records);
 * if (!result.value.ok) process.exitCode = 1;
 * ```
 */
export function verifyDataset(path: string, options: VerifyDatasetOptions = {}): ResultAsync<VerifyReport, BackfillError> {
  if (options.expectedSha256 !== undefined && !isSha256Hex(options.expectedSha256)) {
    return errAsync(
      new BackfillError('INVALID_ARGUMENT', `expectedSha256 must be 64 hexadecimal digits, got ${JSON.stringify(options.expectedSha256)}.`),
    );
  }
  const logger = loggerOf(options.logger);
  const failed = (error: unknown): BackfillError => toBackfillError(error, 'IO_ERROR', { path });
  return safeTry(async function* () {
    const expected = yield* findExpected(path, options);
    // Member digests on: they are what each member is checked against the manifest with.
    const dataset = readDataset(path, {
      memberDigests: true,
      ...(options.maxDecompressedBytes === undefined ? {} : { maxDecompressedBytes: options.maxDecompressedBytes }),
      ...(options.maxCompressionRatio === undefined ? {} : { maxCompressionRatio: options.maxCompressionRatio }),
      ...(options.maxLineBytes === undefined ? {} : { maxLineBytes: options.maxLineBytes }),
      ...(options.maxEntries === undefined ? {} : { maxEntries: options.maxEntries }),
      ...(options.signal === undefined ? {} : { signal: options.signal }),
    });
    yield* ResultAsync.fromPromise(drain(dataset, progressOf(options.onProgress, logger, 'verifyDataset')), failed);
    const stats = yield* dataset.stats();
    const manifest = await dataset.manifest();
    const mismatch =
      expected !== undefined && expected.sha256 !== stats.sha256 ? await checksumMismatchMessage(path, expected, stats.sha256) : undefined;
    const report = buildReport(
      path,
      stats,
      manifest.isOk() ? manifest.value : null,
      manifest.isErr() ? manifest.error : null,
      expected,
      mismatch,
    );
    logger.info('verifyDataset finished', { path, passed: report.ok, problems: report.problems.length, sha256: stats.sha256 });
    return ok(report);
  });
}

/** Iterates without reading a member, which lets the reader drain it: hashed and counted once, nothing else. */
async function drain(
  dataset: AsyncIterable<{ readonly name: string }>,
  onProgress: ProgressReporter<VerifyDatasetProgress>,
): Promise<void> {
  let membersDone = 0;
  let previous: string | undefined;
  for await (const member of dataset) {
    if (previous !== undefined) onProgress({ membersDone: ++membersDone, member: previous });
    previous = member.name;
  }
  if (previous !== undefined) onProgress({ membersDone: ++membersDone, member: previous });
}
