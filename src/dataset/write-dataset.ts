import { createHash, randomBytes } from 'node:crypto';
import { constants, createReadStream, unlinkSync } from 'node:fs';
import { type FileHandle, lstat, mkdir, open, rename, rmdir, stat, unlink } from 'node:fs/promises';
import { basename, dirname, join, sep } from 'node:path';
import { Transform, type TransformCallback, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import zlib from 'node:zlib';
import tar from 'tar-stream';
import { ResultAsync } from 'neverthrow';
import { BackfillError, toBackfillError } from '../errors.js';
import { formatChecksumLine } from '../_internals/checksum-line.js';
import { syncDirectory } from '../_internals/durable-file.js';
import { NEW_DIRECTORY_MODE } from '../_internals/new-file-mode.js';
import { notRegular } from '../_internals/file-kind.js';
import { ownedTempPrefix, removeDeadTemps } from '../_internals/owned-temp.js';
import { HashingPassThrough } from '../_internals/hashing-stream.js';
import { LineSplitter } from '../_internals/ndjson.js';
import { Utf8Check } from '../_internals/utf8-check.js';
import { ZstdFrameCompress } from '../_internals/zstd-frame-compress.js';
import { giveFinalMode, openOwnerOnly, stageFileAtomic } from '../_internals/write-file-atomic.js';
import {
  COMPRESSION_LEVELS,
  DEFAULT_GZIP_LEVEL,
  DEFAULT_MAX_ENTRIES,
  DEFAULT_MAX_LINE_BYTES,
  DEFAULT_ZSTD_LEVEL,
  MANIFEST_NAME,
  MAX_MTIME,
  TARBALL_SUFFIX,
} from './defaults.js';
import { serializeManifest } from './manifest.js';
import { ExtractedPaths, checkMemberName } from './member-name.js';
import type { Compression, DatasetManifest, ManifestMember } from './types.js';
import { LONE_SURROGATE } from '../_internals/lone-surrogate.js';

/**
 * A member copied byte for byte from a file. It must be UTF-8 (anything else
 * is refused with `ENCODING_INVALID`, naming the file, byte offset and line);
 * its records are counted as the reader counts them: lines end at LF (a CR
 * before it is part of the ending, any other CR part of the line), blank
 * lines are not records, and a last line may lack its LF.
 */
export interface MemberFile {
  readonly file: string;
  /**
   * The file as the caller checked it (the `dev` and `ino` of an `fs.stat`
   * of `file`), when it was checked before the write (say, that it is a
   * regular file inside a directory). The file is then opened first,
   * without following a symlink in the last part of `file`, and the open
   * file must be a regular file with that device and inode, or the write
   * fails with `IO_ERROR` before reading a byte of it and writes nothing:
   * a file replaced between the check and the open (by a symlink to a file
   * elsewhere, say) is never read.
   */
  readonly checked?: { readonly dev: number; readonly ino: number };
}

/**
 * Records for one member: objects (serialised with `JSON.stringify`) or
 * ready-made lines; or a file to copy as it is.
 *
 * A ready-made line (a string) is one record's NDJSON text, without its
 * newline, written as it is. So that the dataset holds one record for each
 * given, it is checked for its shape only: it must hold no CR or LF, start
 * with `{` and end with `}` (spaces and tabs around them allowed), and hold
 * no half of a UTF-16 surrogate pair (UTF-8 cannot encode one). It is not
 * parsed, which would slow the writing of pre-serialised lines by a third
 * or more: a line of that shape that is not valid JSON is written, and the
 * reader refuses it (`JSON_MALFORMED`).
 */
export type MemberSource = Iterable<object | string> | AsyncIterable<object | string> | MemberFile;

/** Options for {@link writeDataset}. */
export interface WriteDatasetOptions {
  /** Member name → its records. Members are written in name order. */
  readonly members: Readonly<Record<string, MemberSource>>;
  /** `'zstd'`, `'gzip'` or `'none'` (anything else is `INVALID_ARGUMENT`). @defaultValue `'zstd'` */
  readonly compression?: Compression;
  /** Compression level: 1–22 for zstd, 0–9 for gzip, none for `'none'` (anything else is `INVALID_ARGUMENT`). @defaultValue 3 for zstd, 6 for gzip */
  readonly level?: number;
  /**
   * Modification time stored for every member, in whole seconds since the
   * epoch, from 0 to 2147483647 (2038-01-19; anything else is `INVALID_ARGUMENT`).
   * @defaultValue `SOURCE_DATE_EPOCH` when set and not empty (decimal digits only; anything else is `INVALID_ARGUMENT` naming it), otherwise 0
   */
  readonly mtime?: number;
  /** The manifest's `name`. @defaultValue the file name without its extensions */
  readonly name?: string;
  /** The manifest's `createdAt`. @defaultValue the `mtime` as an ISO-8601 UTC string */
  readonly createdAt?: string;
  /**
   * Stops the write: the result is then `Err` with `ABORTED`, whatever
   * reason `abort()` was given, and any previous file at the path is left as it was.
   */
  readonly signal?: AbortSignal;
  /**
   * Also write `<path>.sha256`, the tarball's line as `sha256sum` prints it
   * (what `verifyDataset` reads beside it). It is written in full before the
   * tarball is renamed into place and renamed right after it, so a process
   * killed at any point leaves the old pair, the new pair, or the new
   * tarball beside the old `.sha256` with the new one waiting under a
   * temporary name: `verifyDataset` then says the `.sha256` is stale and to
   * rebuild, and the next write removes the leftover. A `path` whose
   * `.sha256` the file system cannot name (a 249- to 255-byte file name on
   * Linux), or where a directory has that name, is refused with `IO_ERROR`
   * before any member is read.
   * @defaultValue false
   */
  readonly sha256File?: boolean;
}

/** What {@link writeDataset} produced. */
export interface WrittenDataset {
  /** SHA-256 of the file as written, lowercase hex. */
  readonly sha256: string;
  /** Size of the file as written. */
  readonly bytes: number;
  readonly manifest: DatasetManifest;
  /** The `.sha256` file written beside it (see {@link WriteDatasetOptions.sha256File}), `null` when none was. */
  readonly sha256File: string | null;
}

const LINE_FLUSH_BYTES = 256 * 1024;

const SPACE = 0x20;
const TAB = 0x09;

/** Whether `line`, without the spaces and tabs around it, begins with `{` and ends with `}`. */
function isObjectShaped(line: string): boolean {
  let start = 0;
  let end = line.length;
  while (start < end && (line.charCodeAt(start) === SPACE || line.charCodeAt(start) === TAB)) start++;
  while (end > start && (line.charCodeAt(end - 1) === SPACE || line.charCodeAt(end - 1) === TAB)) end--;
  return end - start >= 2 && line[start] === '{' && line[end - 1] === '}';
}

/**
 * A ready-made line, checked cheaply (see {@link MemberSource}). Each refusal
 * is a dataset other than the records given: a line break makes more than
 * one line of it (the manifest, counting as the reader does, then holds more
 * records than given), a blank line is no record to the reader, a line that
 * is not an object one the reader refuses, and a lone surrogate is written
 * as U+FFFD.
 */
function readyLine(line: string, member: string, index: number): string {
  const refuse = (why: string): never => {
    throw new BackfillError('INVALID_ARGUMENT', `${member} record at index ${index}: ${why}`, { context: { member, index } });
  };
  if (line.includes('\n') || line.includes('\r')) {
    refuse(
      'the ready-made line holds a line break (LF or CR), which would make it more than one line; pass one line per record, or the object.',
    );
  }
  if (!isObjectShaped(line)) {
    refuse(`a ready-made line must be one JSON object ({…}) on one line; got ${JSON.stringify(line.slice(0, 40))}.`);
  }
  if (LONE_SURROGATE.test(line)) {
    refuse(
      'the ready-made line holds half of a UTF-16 surrogate pair, which UTF-8 cannot encode; fix the text, or pass the object (JSON.stringify escapes it).',
    );
  }
  return line;
}

/**
 * One record's line (`index` counts from 0). A value `JSON.stringify` writes
 * as nothing (a function, a symbol, `undefined`) or cannot write (a BigInt, a
 * cycle), or writes as something other than an object, would be a line the
 * reader refuses: refused here, before the archive exists. So is a
 * ready-made line the reader would read otherwise ({@link readyLine}).
 */
function recordLine(record: unknown, member: string, index: number): string {
  if (typeof record === 'string') return readyLine(record, member, index);
  let json: string | undefined;
  try {
    json = JSON.stringify(record) as string | undefined;
  } catch (error) {
    throw new BackfillError(
      'INVALID_ARGUMENT',
      `${member} record at index ${index}: JSON.stringify failed (${(error as Error).message}).`,
      {
        cause: error,
        context: { member, index },
      },
    );
  }
  if (json?.startsWith('{') !== true) {
    throw new BackfillError(
      'INVALID_ARGUMENT',
      `${member} record at index ${index}: JSON.stringify writes it as ${json ?? 'nothing'}, not a JSON object; pass objects (or ready-made lines).`,
      { context: { member, index } },
    );
  }
  return json;
}

/** A member's records as NDJSON bytes, in chunks of about 256 KiB. */
async function* recordChunks(
  member: string,
  source: Iterable<object | string> | AsyncIterable<object | string>,
  signal: AbortSignal | undefined,
): AsyncGenerator<Buffer> {
  let pending: string[] = [];
  let pendingLength = 0;
  let index = 0;
  for await (const record of source) {
    signal?.throwIfAborted();
    const line = `${recordLine(record, member, index++)}\n`;
    pending.push(line);
    pendingLength += line.length;
    if (pendingLength >= LINE_FLUSH_BYTES) {
      yield Buffer.from(pending.join(''), 'utf8');
      pending = [];
      pendingLength = 0;
    }
  }
  if (pending.length > 0) yield Buffer.from(pending.join(''), 'utf8');
}

/** A member file that is not the one its caller checked: refused unread. */
function replaced(member: string, path: string, by: string): BackfillError {
  return new BackfillError(
    'IO_ERROR',
    `member ${member}: ${path} was replaced by ${by} after it was checked, so it is refused as unsafe: it was not read, and nothing was written. Build again once nothing changes the file.`,
    { context: { path, member } },
  );
}

/**
 * Opens `path` for {@link MemberFile.checked}: without following a symlink
 * in its last part (where the platform can), and without blocking on a FIFO
 * put in its place, then requires the open file to be the regular file
 * `checked` describes.
 */
async function openChecked(member: string, path: string, checked: NonNullable<MemberFile['checked']>): Promise<FileHandle> {
  let handle: FileHandle;
  try {
    handle = await open(path, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY | (constants.O_NOFOLLOW ?? 0));
  } catch (error) {
    if ((error as { code?: unknown }).code === 'ELOOP') throw replaced(member, path, 'a symlink');
    throw toBackfillError(error, 'IO_ERROR', { path, member });
  }
  try {
    const opened = await handle.stat();
    const kind = notRegular(opened);
    if (kind !== undefined) throw replaced(member, path, kind);
    if (opened.dev !== checked.dev || opened.ino !== checked.ino) throw replaced(member, path, 'another file');
    return handle;
  } catch (error) {
    await handle.close();
    throw error;
  }
}

/**
 * A file's bytes as they are, refused at the first one that is not UTF-8. A
 * file that cannot be read (missing, a directory) is named in the error, not
 * the tarball being written.
 */
async function* fileChunks(member: string, source: MemberFile, signal: AbortSignal | undefined): AsyncGenerator<Buffer> {
  const { file: path, checked } = source;
  const utf8 = new Utf8Check(path, member);
  const options = { highWaterMark: 1024 * 1024 };
  const chunks = (
    checked === undefined ? createReadStream(path, options) : (await openChecked(member, path, checked)).createReadStream(options)
  ) as AsyncIterable<Buffer>;
  try {
    for await (const chunk of chunks) {
      signal?.throwIfAborted();
      utf8.push(chunk);
      yield chunk;
    }
  } catch (error) {
    throw toBackfillError(error, 'IO_ERROR', { path, member });
  }
  utf8.end();
}

/** Spools one member to a temporary NDJSON file, hashing and counting its records (as the reader will) as it goes. */
async function spoolMember(name: string, source: MemberSource, file: FileHandle, signal: AbortSignal | undefined): Promise<ManifestMember> {
  const hash = createHash('sha256');
  // writeDataset takes no maxLineBytes: a longer line would be one that readers refuse by default.
  const counter = new LineSplitter(name, DEFAULT_MAX_LINE_BYTES, 'the longest line readers take by default: shorten or split the record');
  let bytes = 0;
  const chunks = 'file' in source ? fileChunks(name, source, signal) : recordChunks(name, source, signal);
  async function* tally(): AsyncGenerator<Buffer> {
    for await (const chunk of chunks) {
      hash.update(chunk);
      counter.push(chunk);
      bytes += chunk.length;
      yield chunk;
    }
  }
  await pipeline(tally(), writesTo(file));
  counter.end();
  return { name, records: counter.records, bytes, sha256: hash.digest('hex') };
}

/**
 * zstd as independent 4 MiB frames (node:zlib, Node >= 22.15), each with a
 * content checksum as the zstd CLI writes by default. Output is
 * byte-identical wherever Node bundles the same zstd release; see the README
 * on reproducible tarballs.
 */
function compressor(compression: Compression, level: number | undefined): Transform | undefined {
  if (compression === 'zstd') return new ZstdFrameCompress(level ?? DEFAULT_ZSTD_LEVEL);
  if (compression === 'gzip') return zlib.createGzip({ level: level ?? DEFAULT_GZIP_LEVEL });
  return undefined;
}

/** Any other value (`'gz'`, `'ZSTD'`, from JavaScript or a configuration file) would be written as a plain tar. */
function checkCompression(compression: unknown): void {
  if (typeof compression === 'string' && Object.hasOwn(TARBALL_SUFFIX, compression)) return;
  throw new BackfillError('INVALID_ARGUMENT', `compression must be 'zstd', 'gzip' or 'none'; got ${JSON.stringify(compression)}.`);
}

function checkLevel(compression: Compression, level: number | undefined): void {
  if (level === undefined) return;
  const range: readonly [number, number] | undefined = COMPRESSION_LEVELS[compression];
  if (range === undefined) throw new BackfillError('INVALID_ARGUMENT', `compression 'none' takes no level; got ${level}.`);
  if (!Number.isInteger(level) || level < range[0] || level > range[1]) {
    throw new BackfillError('INVALID_ARGUMENT', `${compression} level must be an integer from ${range[0]} to ${range[1]}; got ${level}.`);
  }
}

/** Passes bytes through unchanged (for uncompressed output). */
class Identity extends Transform {
  override _transform(chunk: Buffer, _e: BufferEncoding, callback: TransformCallback): void {
    callback(null, chunk);
  }
}

/**
 * A stream that writes to `handle` and leaves it open, for its owner and
 * mode to be set and its data synced through it before it is closed (a
 * `createWriteStream` over a FileHandle keeps it from closing until the
 * stream closes it). A write after the handle is closed fails (EBADF)
 * rather than reaching another file.
 */
function writesTo(handle: FileHandle): Writable {
  const writeAll = async (bytes: Buffer): Promise<void> => {
    for (let at = 0; at < bytes.length; ) at += (await handle.write(bytes, at)).bytesWritten;
  };
  return new Writable({
    highWaterMark: 1024 * 1024,
    write(chunk: Buffer, _e, callback) {
      writeAll(chunk).then(() => callback(), callback);
    },
    writev(chunks, callback) {
      writeAll(Buffer.concat(chunks.map((c) => c.chunk as Buffer))).then(() => callback(), callback);
    },
  });
}

/** A negative mtime, and one past {@link MAX_MTIME} (which wraps negative), would be written as text GNU tar refuses to read. */
function checkMtime(mtime: number, fromEnv: boolean): void {
  if (!Number.isInteger(mtime) || mtime < 0 || mtime > MAX_MTIME) {
    throw new BackfillError(
      'INVALID_ARGUMENT',
      `mtime${fromEnv ? ' (from SOURCE_DATE_EPOCH)' : ''} must be a whole number of seconds from 0 to ${MAX_MTIME} (2038-01-19, what the tar headers hold); got ${mtime}.`,
    );
  }
}

/**
 * `SOURCE_DATE_EPOCH` when it is set and not empty, read as the command
 * line reads it: decimal digits only. `Number` would read `0x10`, `1e9` or
 * ` 17` as numbers nobody wrote, and a value it cannot read (`abc`, `1.5`)
 * would silently give 0.
 */
function defaultMtime(): number {
  const text = process.env.SOURCE_DATE_EPOCH;
  if (text === undefined || text === '') return 0;
  if (!/^[0-9]+$/.test(text)) {
    throw new BackfillError(
      'INVALID_ARGUMENT',
      `SOURCE_DATE_EPOCH must be a whole number of seconds from 0 to ${MAX_MTIME}, written with the digits 0-9 only (it gives every member's mtime); got ${JSON.stringify(text)}. Fix it, or unset it for mtime 0.`,
    );
  }
  return Number(text);
}

/**
 * Refuses a source that is neither records nor a {@link MemberFile}. A path
 * passed as a plain string type-checks (a string is an iterable of strings)
 * but is surely meant as `{ file }`.
 */
function checkSource(raw: string, source: unknown): void {
  const refuse = (what: string): never => {
    throw new BackfillError(
      'INVALID_ARGUMENT',
      `member ${JSON.stringify(raw)}: ${what}; pass { file: path } to copy a file, or an iterable of records (objects or ready-made lines).`,
      { context: { member: raw } },
    );
  };
  if (typeof source === 'string') refuse(`got the string ${JSON.stringify(source.slice(0, 80))}`);
  if (typeof source !== 'object' || source === null) refuse(`got ${source === null ? 'null' : typeof source}`);
  const given = source as Record<string | symbol, unknown>;
  if ('file' in given) {
    if (typeof given.file !== 'string') refuse(`its file is ${typeof given.file}, not a path`);
    const checked = given.checked as { dev?: unknown; ino?: unknown } | null | undefined;
    if (checked !== undefined && (typeof checked?.dev !== 'number' || typeof checked.ino !== 'number'))
      refuse('its checked is not { dev, ino } (numbers, as fs.stat gives them)');
  } else if (typeof given[Symbol.iterator] !== 'function' && typeof given[Symbol.asyncIterator] !== 'function') {
    refuse('got an object that is neither { file } nor iterable');
  }
}

/**
 * The members by normalised name, in name order. Two names that normalise
 * alike (`./a.ndjson`, `a.ndjson`) would be one file to `tar -x` and a
 * duplicate to the reader, and a member named like another's directory (`x`
 * beside `x/a.ndjson`) would fail `tar -x` and the reader, so they are
 * refused, as is `manifest.json`.
 */
function memberList(supplied: unknown): (readonly [string, MemberSource])[] {
  // From JavaScript: no members failed as IO_ERROR with a TypeError's text, an array was members "0", "1"….
  if (typeof supplied !== 'object' || supplied === null || Array.isArray(supplied)) {
    const got = Array.isArray(supplied) ? 'an array' : supplied === null ? 'null' : typeof supplied;
    throw new BackfillError('INVALID_ARGUMENT', `members must be an object of member names to their records (or { file }); got ${got}.`);
  }
  const members = supplied as Readonly<Record<string, MemberSource>>;
  const given = new Map<string, string>();
  const paths = new ExtractedPaths();
  // Written first, it is a file no member may need as its directory (`manifest.json/a.ndjson`).
  paths.add(MANIFEST_NAME, MANIFEST_NAME, 'file');
  for (const raw of Object.keys(members)) {
    const name = checkMemberName(raw);
    checkSource(raw, members[raw]);
    if (name === MANIFEST_NAME) {
      throw new BackfillError('INVALID_ARGUMENT', 'manifest.json is written by writeDataset; do not pass it as a member.');
    }
    const clash = paths.add(name, raw, 'file');
    if (clash !== undefined) {
      throw new BackfillError(
        'INVALID_ARGUMENT',
        `${clash}; tar -x cannot extract both: pass each member once, and none named like another's directory.`,
        { context: { member: name } },
      );
    }
    given.set(name, raw);
  }
  // With manifest.json: a dataset readers refuse by default is not written.
  if (paths.count > DEFAULT_MAX_ENTRIES) {
    throw new BackfillError(
      'INVALID_ARGUMENT',
      `the members make ${paths.count} files and directories with manifest.json, more than readers take (maxEntries, ${DEFAULT_MAX_ENTRIES} by default); split the dataset.`,
    );
  }
  return [...given].map(([name, raw]) => [name, members[raw]!] as const).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

/** Removes the directories `mkdir -p` made for a write that then failed, innermost first, stopping at one that is not empty. */
async function removeMadeDirs(dir: string, firstMade: string | undefined): Promise<void> {
  if (firstMade === undefined) return;
  for (let d = dir; ; d = dirname(d)) {
    try {
      await rmdir(d);
    } catch {
      return; // not empty (someone else wrote there meanwhile): keep it and its parents
    }
    if (d === firstMade) return;
  }
}

/** Temporary files (spooled members, partial tarballs) of the writes in flight. */
const writing = new Set<string>();
let removeOnExit = false;

/**
 * Removes `file` should the process exit before the write ends: `process.exit()`
 * (a CLI's second Ctrl-C quits at once) runs no pending cleanup, and would
 * leave the spooled members and the partial tarball beside the output.
 */
function removedOnExit(file: string): void {
  writing.add(file);
  if (removeOnExit) return;
  removeOnExit = true;
  process.on('exit', () => {
    for (const temp of writing) {
      try {
        unlinkSync(temp);
      } catch {
        // Gone already, or not removable: the next write of the same path removes it.
      }
    }
  });
}

/** Removes a temporary file of the write (never a directory someone put in its place). */
async function removeTemp(file: string): Promise<void> {
  writing.delete(file);
  await unlink(file).catch(() => undefined);
}

/** A member spooled to a file of its own beside the output, and which file that is. */
interface Spooled {
  readonly entry: ManifestMember;
  readonly file: string;
  readonly dev: number;
  readonly ino: number;
}

/**
 * Spools one member to a new file beside the output, private (0600) from
 * its creation. A file, never a directory: in a directory another user may
 * write to, they could put a symlink in place of a directory of this
 * process's, and what would then be written, read or removed under it
 * would be elsewhere.
 */
async function spoolToFile(file: string, name: string, source: MemberSource, signal: AbortSignal | undefined): Promise<Spooled> {
  const handle = await openOwnerOnly(file);
  removedOnExit(file);
  try {
    const entry = await spoolMember(name, source, handle, signal);
    const { dev, ino } = await handle.stat();
    return { entry, file, dev, ino };
  } finally {
    await handle.close();
  }
}

/** Opens a spooled member again, refusing anything but the very file it was spooled to (not through a symlink, nor a FIFO put in its place). */
async function reopenSpooled(spooled: Spooled, path: string): Promise<FileHandle> {
  const handle = await open(spooled.file, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY | (constants.O_NOFOLLOW ?? 0));
  const opened = await handle.stat().catch(async (error: unknown) => {
    await handle.close();
    throw error;
  });
  if (opened.isFile() && opened.dev === spooled.dev && opened.ino === spooled.ino) return handle;
  await handle.close();
  throw new BackfillError(
    'IO_ERROR',
    `the spooled copy of member ${spooled.entry.name} (${spooled.file}) was replaced while ${path} was written; nothing was written there.`,
    { context: { path, member: spooled.entry.name } },
  );
}

/** How `path` names a directory whatever is there (it ends in `/`, `/.` or `/..`), or undefined. */
function directoryName(path: string): string | undefined {
  if (path.endsWith('/') || path.endsWith(sep)) return 'ends in "/"';
  const last = basename(path);
  if (last === '.' || last === '..') return path === last ? `is "${last}"` : `ends in "/${last}"`;
  return undefined;
}

/**
 * Refuses, before any member is read, a `path` that is a directory (`out/`
 * for `out/ds.tar.zst`), or that can only name one (`out/ds.tar.zst/`,
 * `out/new/.`), and the empty path: the tarball could not be renamed there,
 * and the write would fail only once every member had been read and packed.
 */
async function refuseDirectoryAt(path: string, compression: Compression): Promise<void> {
  if (typeof path !== 'string' || path.length === 0) {
    throw new BackfillError('INVALID_ARGUMENT', 'pass the path of the tarball to write (an empty path names none).');
  }
  const example = `such as ${join(path, `dataset${TARBALL_SUFFIX[compression]}`)}`;
  const stats = await lstat(path).catch((error: unknown) => {
    if ((error as { code?: unknown }).code === 'ENOENT' || (error as { code?: unknown }).code === 'ENOTDIR') return undefined;
    throw error;
  });
  if (stats?.isDirectory() === true) {
    throw new BackfillError(
      'IO_ERROR',
      `${path} is ${notRegular(stats)}: give the path of the tarball to write, ${example}. Nothing was written.`,
      { context: { path } },
    );
  }
  const named = directoryName(path);
  if (named === undefined) return;
  throw new BackfillError(
    'INVALID_ARGUMENT',
    `${path} ${named}, a directory's name: give the path of the tarball to write, ${example}. Nothing was written.`,
    { context: { path } },
  );
}

/**
 * Refuses, before any member is read, a `path` whose `.sha256` cannot be
 * written: a name the file system cannot hold (a 255-byte tarball name on
 * Linux), or a directory of that name. It would fail only once the tarball
 * had been packed and renamed into place, and again on every write.
 */
async function refuseUnwritableSidecar(path: string): Promise<void> {
  const sidecar = `${path}.sha256`;
  const found = await lstat(sidecar).then(
    (stats) => (stats.isDirectory() ? 'directory' : undefined),
    (error: unknown) => ((error as { code?: unknown }).code === 'ENAMETOOLONG' ? 'too long' : undefined),
  );
  if (found === undefined) return;
  const without = 'write the tarball without its .sha256 (sha256File: false, or --no-sha256-file). Nothing was written.';
  throw new BackfillError(
    'IO_ERROR',
    found === 'directory'
      ? `${sidecar} is a directory, which the .sha256 written beside the tarball cannot replace: move it, or ${without}`
      : `${sidecar} is a longer name than the file system takes (ENAMETOOLONG), so the .sha256 cannot be written beside the tarball: shorten the tarball's name, or ${without}`,
    { context: { path: sidecar } },
  );
}

async function write(path: string, options: WriteDatasetOptions): Promise<WrittenDataset> {
  const members = memberList((options as WriteDatasetOptions | undefined)?.members);
  const compression = options.compression ?? 'zstd';
  checkCompression(compression);
  checkLevel(compression, options.level);
  const mtime = options.mtime ?? defaultMtime();
  checkMtime(mtime, options.mtime === undefined);
  await refuseDirectoryAt(path, compression);
  const firstMade = await mkdir(dirname(path), { recursive: true, mode: NEW_DIRECTORY_MODE });
  // Once its directory exists: in a missing one, the name is not looked at.
  if (options.sha256File === true) {
    await refuseUnwritableSidecar(path).catch(async (error: unknown) => {
      await removeMadeDirs(dirname(path), firstMade);
      throw error;
    });
  }
  let written = false;
  // Partial tarballs of writes killed before they could clean up (SIGKILL, the OOM killer) are as big as their datasets.
  await removeDeadTemps(dirname(path), basename(path));
  const prefix = await ownedTempPrefix(basename(path));
  const temp = (): string => join(dirname(path), `${prefix}${randomBytes(6).toString('hex')}`);
  const made: string[] = [];
  const spooled: Spooled[] = [];
  let partial: string | undefined;
  try {
    for (const [name, source] of members) {
      const file = temp();
      made.push(file);
      spooled.push(await spoolToFile(file, name, source, options.signal));
    }
    const manifest: DatasetManifest = {
      schemaVersion: 1,
      name: options.name ?? basename(path).replace(/\.tar(\.[a-z0-9]+)?$/i, ''),
      createdAt: options.createdAt ?? new Date(mtime * 1000).toISOString().replace(/\.000Z$/, 'Z'),
      members: spooled.map((s) => s.entry),
    };
    const pack = tar.pack();
    const header = (name: string, size: number): tar.Header => ({
      name,
      size,
      mode: 0o644,
      mtime: new Date(mtime * 1000),
      uid: 0,
      gid: 0,
      uname: '',
      gname: '',
      type: 'file',
      linkname: '',
      devmajor: 0,
      devminor: 0,
    });
    const hasher = new HashingPassThrough();
    partial = temp();
    const out = await openOwnerOnly(partial);
    removedOnExit(partial);
    try {
      const compressing = compressor(compression, options.level) ?? new Identity();
      // Started only when nothing is left to wait for or throw before Promise.all
      // listens: a rejection of a packing nobody awaits is unhandled, and ends the process.
      const packing = (async () => {
        const manifestBytes = Buffer.from(serializeManifest(manifest), 'utf8');
        await new Promise<void>((resolve, reject) =>
          pack.entry(header(MANIFEST_NAME, manifestBytes.length), manifestBytes, (e) => (e ? reject(e) : resolve())),
        );
        for (const member of spooled) {
          // The spooled copy is opened before its entry starts: an entry left open by a failure to
          // open it would have no listener for the error it is destroyed with once the pack is.
          const file = await reopenSpooled(member, path);
          const sink = pack.entry(header(member.entry.name, member.entry.bytes ?? 0));
          await pipeline(file.createReadStream({ highWaterMark: 1024 * 1024 }), sink);
          await removeTemp(member.file);
        }
        pack.finalize();
      })().catch((error: unknown) => {
        // The pipeline below would wait for the rest of the pack for ever (until its signal fires).
        pack.destroy(error instanceof Error ? error : new Error(String(error)));
        throw error;
      });
      await Promise.all([packing, pipeline(pack, compressing, hasher, writesTo(out), options.signal ? { signal: options.signal } : {})]);
      await giveFinalMode(path, out);
      // Rename into place only once everything is written and on the disk: a
      // failed write, a killed process or a power cut leaves any previous file
      // at `path` untouched.
      await out.datasync();
    } finally {
      await out.close();
    }
    const sha256 = hasher.digest();
    const sha256File = `${path}.sha256`;
    // The `.sha256` is staged whole first, so nothing but a rename comes between the tarball's rename and its own.
    const sidecar = options.sha256File === true ? await stageFileAtomic(sha256File, formatChecksumLine(basename(path), sha256)) : null;
    try {
      await rename(partial, path);
    } catch (error) {
      await sidecar?.discard();
      throw error;
    }
    written = true;
    if (sidecar === null) await syncDirectory(dirname(path));
    else
      await sidecar.commit().catch((error: unknown) => {
        throw new BackfillError(
          'IO_ERROR',
          `${path} was written, but ${sha256File} could not be replaced (${error instanceof Error ? error.message : String(error)}), so it is stale: write the dataset again.`,
          { cause: error, context: { path: sha256File } },
        );
      });
    const { size } = await stat(path);
    return { sha256, bytes: size, manifest, sha256File: sidecar === null ? null : sha256File };
  } finally {
    for (const file of made) if (writing.has(file)) await removeTemp(file);
    // Renamed into place, it is no longer there.
    if (partial !== undefined && !written) await removeTemp(partial);
    else if (partial !== undefined) writing.delete(partial);
    if (!written) await removeMadeDirs(dirname(path), firstMade);
  }
}

/**
 * Writes a dataset tarball byte-for-byte deterministically: `manifest.json`
 * first, then members in name order, fixed mtime/uid/gid/mode, empty owner
 * names and a fixed compression level. Members are spooled to temporary
 * files beside `path`, private (0600), never a directory (its parent
 * directory is created if missing, and removed again on failure), so
 * memory stays flat however large they are; each is read back only if it
 * is still the very file written (`IO_ERROR` otherwise). The file appears
 * atomically (rename) only when complete, and is private (0600) until
 * then; a file it replaces keeps its permission bits (a private `0600`
 * dataset stays private), and its owner and group where this process may give them (root may: a service user's dataset rewritten under `sudo` stays that
 * user's; another user keeps the old group if it belongs to it, and
 * otherwise writes the file as its own, without a warning). A symlink at
 * `path` is replaced, not written through; it lends nothing, nor does, in
 * a sticky directory (`/tmp`), a file of another user who does not own the
 * directory. A file with other hard
 * links is replaced at `path` only. The spooled members and partial tarball a killed write of the same `path` left
 * are removed first, once the process their names record is gone; nothing
 * beside `path` is ever removed recursively where another user may rename
 * entries, and nothing of another user's is removed at all.
 *
 * Refused with `INVALID_ARGUMENT` before any member is read: an empty
 * `path`, or one that can only name a directory (ending in `/`, `/.` or
 * `/..`; one that is a directory is `IO_ERROR`), two names that are one member once
 * normalised (`./a.ndjson`, `a.ndjson`), a `manifest.json` member, a source
 * that is neither records nor `{ file }` (a path passed as a plain string),
 * a record `JSON.stringify` writes as nothing or as no object, and a
 * ready-made line that is not one JSON object on one line (see
 * {@link MemberSource}; the error names the member and the record's index).
 * A name ending in `/` is `MEMBER_PATH_UNSAFE`, a {@link MemberFile} that
 * is not UTF-8 `ENCODING_INVALID`, one that cannot be read `IO_ERROR`
 * naming the file.
 *
 * A member named like another's directory (`x` beside `x/a.ndjson`), which
 * `tar -x` cannot extract both of, is `INVALID_ARGUMENT` too, and so is a
 * member under a directory named `manifest.json` (`manifest.json/a.ndjson`).
 *
 * @example
 * ```ts
 * const written = await writeDataset('linksets-stage-backfill.tar.zst', {
 *   members: {
 *     'linksets.ndjson': [{ _id: 'ls-1', advisoryId: 'CVE-2025-0001' }],
 *     'advisory_chunks.ndjson': generateAdvisoryChunks(1000, 42),
 *   },
 * });
 * if (written.isOk()) console.log(written.value.sha256);
 * ```
 */
export function writeDataset(path: string, options: WriteDatasetOptions): ResultAsync<WrittenDataset, BackfillError> {
  // `signal.throwIfAborted()` and the pipeline give the abort's reason, which is any value `abort(reason)` was given.
  return ResultAsync.fromPromise(write(path, options), (e) =>
    options?.signal?.aborted === true && !(e instanceof BackfillError && e.code === 'ABORTED')
      ? new BackfillError('ABORTED', `writing ${path} was aborted; nothing was written there.`, { cause: e, context: { path } })
      : toBackfillError(e, 'IO_ERROR', { path }),
  );
}
