/**
 * `backfill-kit dataset build|verify|import|export|rollback` (the dataset runbook): the
 * Concelier staging backfill runbook, one command per step.
 *
 * @module
 */
import { constants } from 'node:fs';
import { type FileHandle, lstat, mkdir, open, readdir, realpath, stat } from 'node:fs/promises';
import { basename, dirname, join, resolve, sep } from 'node:path';
import { err, ok, Result, ResultAsync } from 'neverthrow';
import { BackfillError, toBackfillError } from '../errors.js';
import { readDataset, writeDataset, type Compression, type MemberSource } from '../dataset/index.js';
import {
  COMPRESSION_LEVELS,
  DEFAULT_MAX_COMPRESSION_RATIO,
  DEFAULT_MAX_DECOMPRESSED_BYTES,
  DEFAULT_MAX_ENTRIES,
  DEFAULT_MAX_LINE_BYTES,
  MAX_MTIME,
  TARBALL_SUFFIX,
} from '../dataset/defaults.js';
import { parseManifestBytes } from '../dataset/manifest.js';
import { checkMemberName } from '../dataset/member-name.js';
import {
  DEFAULT_ID_FIELD,
  DEFAULT_ON_INVALID,
  DEFAULT_REJECT_SUFFIX,
  DEFAULT_STAGING_LOCK_TIMEOUT_MS,
  DEFAULT_STAGING_SCHEMA,
  DEFAULT_STAGING_STRATEGY,
  exportDataset,
  StagingImporter,
  type ImportReport,
} from '../staging/index.js';
import { generateAdvisoryChunks, generateLinksets } from '../testing/index.js';
import { MAX_SEED } from '../testing/options.js';
import { formatChecksumLine, verifyDataset, type VerifyReport } from '../verify/index.js';
import { checksumMismatchMessage, type Expected, findExpected } from '../verify/verify-dataset.js';
import { notRegular } from '../_internals/file-kind.js';
import { UNDECODED_ADVICE } from '../_internals/ndjson.js';
import { openedOutside, resolveUnder } from '../verify/safe-path.js';
import {
  booleanFlag,
  choiceFlag,
  failed,
  intFlag,
  ioStep,
  listFlag,
  lockTimeoutFlag,
  onlyWith,
  pathArgument,
  pgFlag,
  stringFlag,
  type CommandSpec,
  type FlagSpec,
  type FlagValues,
} from './command.js';
import { DATASET_DB_VARS } from './env.js';
import { EXIT_CODES } from './exit-codes.js';
import { bytes, counted, num, reworded } from './output.js';
import { isSha256Hex } from '../_internals/sha256-hex.js';
import { NEW_DIRECTORY_MODE } from '../_internals/new-file-mode.js';

const LINKSETS_MEMBER = 'linksets.ndjson';
const CHUNKS_MEMBER = 'advisory_chunks.ndjson';

/** How `dataset build` and `dataset export` write the archive. */
const ARCHIVE_FLAGS: Readonly<Record<string, FlagSpec>> = {
  compression: {
    type: 'string',
    value: '<zstd|gzip|none>',
    description: 'Archive compression; it must be the one the file name ends in (.tar.zst, .tar.gz or .tgz, .tar), if any.',
    default: 'zstd',
  },
  mtime: {
    type: 'string',
    value: '<epoch-seconds>',
    description: 'Modification time of every member.',
    default: '0',
    env: 'SOURCE_DATE_EPOCH',
  },
  name: { type: 'string', value: '<name>', description: "The manifest's name.", defaultText: 'the file name without extensions' },
};

const TABLE_FLAGS: Readonly<Record<string, FlagSpec>> = {
  schema: {
    type: 'string',
    value: '<name>',
    description: 'Schema of the staging tables.',
    default: DEFAULT_STAGING_SCHEMA,
    env: 'PGSCHEMA',
  },
  'linksets-table': {
    type: 'string',
    value: '<table>',
    description: `Table for ${LINKSETS_MEMBER} (without --table).`,
    // No default here: tableMap must tell a given one from none, to refuse it beside --table.
    defaultText: 'linksets_raw',
    env: 'LINKSETS_TABLE',
  },
  'chunks-table': {
    type: 'string',
    value: '<table>',
    description: `Table for ${CHUNKS_MEMBER} (without --table).`,
    defaultText: 'advisory_chunks_raw',
    env: 'CHUNKS_TABLE',
  },
  table: {
    type: 'string',
    value: '<member=table>',
    multiple: true,
    description:
      'Map another member to a table (repeatable; the member spelled as in the archive, ./a.ndjson being a.ndjson); when given, replaces the two default mappings.',
  },
  pg: pgFlag(DATASET_DB_VARS),
};

const COMPRESSIONS: readonly Compression[] = ['zstd', 'gzip', 'none'];

/** File name endings that say a compression, and the ending each compression is named with. */
const NAMED_COMPRESSION: readonly (readonly [RegExp, Compression])[] = [
  [/\.(zst|tzst)$/i, 'zstd'],
  [/\.(gz|tgz)$/i, 'gzip'],
  [/\.tar$/i, 'none'],
];

/**
 * `--compression` (or its default) against the archive's name: `ds.tar.gz`
 * written as zstd is a file that `tar -xzf`, `gunzip` and anything else
 * trusting its name fail on. A name that says no compression passes.
 */
function compressionMatchesName(typed: string, compression: Compression): Result<Compression, BackfillError> {
  const named = NAMED_COMPRESSION.find(([ending]) => ending.test(typed))?.[1];
  if (named === undefined || named === compression) return ok(compression);
  const renamed = `${basename(typed).replace(/(\.tar)?\.(zst|tzst|gz|tgz|tar)$/i, '')}${TARBALL_SUFFIX[compression]}`;
  return err(
    new BackfillError(
      'INVALID_ARGUMENT',
      `${typed} is named as a ${named === 'none' ? 'plain (uncompressed) tar' : `${named} tarball`}, but it would be written ${compression === 'none' ? 'uncompressed' : `as ${compression}`} (--compression, zstd unless given), which tools that trust the name (tar -xzf, gunzip, zstd -d) cannot read: pass --compression ${named}, or name it ${renamed}.`,
    ),
  );
}

/** How long an import or rollback waits for the staging tables' lock (LOCK_TIMEOUT names who holds it). */
const LOCK_TIMEOUT_FLAG: FlagSpec = {
  type: 'string',
  value: '<ms>',
  description: 'lock_timeout for the statements that lock the staging tables (TRUNCATE, the swap).',
  default: String(DEFAULT_STAGING_LOCK_TIMEOUT_MS),
};

/**
 * Member → table from `--table member=table`, or the two runbook tables.
 * Neither a member mapped twice nor a runbook table flag (or its variable)
 * beside `--table` is silently dropped: both are refused.
 */
function tableMap(flags: FlagValues): Result<Readonly<Record<string, string>>, BackfillError> {
  const custom = listFlag(flags, 'table');
  if (custom.length === 0) {
    return ok({
      [LINKSETS_MEMBER]: stringFlag(flags, 'linksets-table') ?? 'linksets_raw',
      [CHUNKS_MEMBER]: stringFlag(flags, 'chunks-table') ?? 'advisory_chunks_raw',
    });
  }
  const beside = [
    ['linksets-table', 'LINKSETS_TABLE', LINKSETS_MEMBER],
    ['chunks-table', 'CHUNKS_TABLE', CHUNKS_MEMBER],
  ].find(([flag]) => flags[flag as string] !== undefined);
  if (beside !== undefined) {
    const [flag, variable, member] = beside;
    return err(
      new BackfillError(
        'INVALID_ARGUMENT',
        `--${flag} (or ${variable}) applies only without --table, which replaces the default mappings: map it as --table ${member}=<table> instead, or leave --table out.`,
      ),
    );
  }
  const out: Record<string, string> = {};
  for (const entry of custom) {
    const eq = entry.indexOf('=');
    if (eq <= 0 || eq === entry.length - 1)
      return err(new BackfillError('INVALID_ARGUMENT', `--table must look like member.ndjson=table, not ${JSON.stringify(entry)}.`));
    // Spelled as the reader names members (./a.ndjson is a.ndjson), so the same member given twice is caught too.
    const member = Result.fromThrowable(checkMemberName, (e) => toBackfillError(e, 'INVALID_ARGUMENT'))(entry.slice(0, eq));
    if (member.isErr()) return err(member.error);
    const table = entry.slice(eq + 1);
    const earlier = out[member.value];
    if (earlier !== undefined && earlier !== table) {
      return err(
        new BackfillError('INVALID_ARGUMENT', `--table maps ${member.value} twice (to ${earlier} and to ${table}): give each member once.`),
      );
    }
    out[member.value] = table;
  }
  return ok(out);
}

/**
 * The records the manifest promises for `members`, read from the archive's
 * first member when that is `manifest.json` (as `writeDataset` puts it);
 * undefined otherwise. Used only for the progress bar's ETA.
 */
async function manifestTotal(path: string, members: readonly string[]): Promise<number | undefined> {
  try {
    for await (const member of readDataset(path)) {
      if (member.name !== 'manifest.json') return undefined;
      const parts: Buffer[] = [];
      for await (const chunk of member.chunks()) parts.push(chunk);
      const manifest = parseManifestBytes(Buffer.concat(parts));
      if (manifest.isErr()) return undefined;
      return manifest.value.members.filter((m) => members.includes(m.name)).reduce((n, m) => n + m.records, 0);
    }
  } catch {
    // The import itself reports what is wrong with the archive.
  }
  return undefined;
}

/** Creates the directory an output file goes into, as the runbook scripts' `mkdir -p` did. */
function ensureParent(path: string): ResultAsync<unknown, BackfillError> {
  return ioStep(dirname(path), mkdir(dirname(path), { recursive: true, mode: NEW_DIRECTORY_MODE }));
}

/** `name`'s line as `sha256sum` prints it, newline included: a name holding a newline or `\` is escaped, the line marked with a leading `\`. */
function checksumLine(name: string, sha256: string): string {
  return formatChecksumLine(name, sha256).toString('utf8');
}

function importLines(r: ImportReport, schema: string, failedRun = false): string[] {
  const verb = failedRun ? 'NOT committed (see the error below): read' : r.dryRun ? 'Dry run (nothing written): validated' : 'Imported';
  const lines = [
    `${verb} ${r.path} (sha256 ${r.sha256 ?? 'unknown'}, ${bytes(r.bytes ?? 0)}) into schema ${schema}, strategy ${r.strategy}, in ${(r.durationMs / 1000).toFixed(2)} s (${num(Math.round(r.rowsPerSecond))} rows/s):`,
  ];
  const w = Math.max(...r.tables.map((t) => t.member.length));
  const tw = Math.max(...r.tables.map((t) => t.table.length));
  for (const t of r.tables) {
    const rejected = t.rejected > 0 ? `, ${num(t.rejected)} rejected` : '';
    lines.push(
      // A run that failed before checking a member's count has no verdict on it (not a mismatch).
      `  ${t.member.padEnd(w)} -> ${t.table.padEnd(tw)} ${num(t.loaded).padStart(10)} ${t.loaded === 1 ? 'row' : 'rows'}${rejected} ${t.expected === null ? '(count not checked)' : `(manifest ${num(t.expected)}) ${t.ok ? 'OK' : 'MISMATCH'}`}`,
    );
  }
  lines.push(`checks: ${r.checks.join(', ') || 'none'}`);
  if (r.rejected > 0) lines.push(`rejected lines: ${num(r.rejected)}, written to ${r.rejectPath ?? '(no reject file)'}`);
  if (r.lock !== null) lines.push(`lock: ${JSON.stringify(r.lock)}`);
  if (r.dropped.length > 0) lines.push(`dropped: ${r.dropped.join(', ')}`);
  if (r.manifest !== null) lines.push(`manifest: ${JSON.stringify(r.manifest)}`);
  return lines;
}

/**
 * The `*.ndjson` files among `files` (the entries of `dir`) as members, by name. Only regular files are
 * packed: a directory, FIFO (which would block the build forever) or device
 * so named is refused, naming it, as is a symlink that leads out of `dir`
 * (as `checksums verify` refuses one), so a build packs nothing from
 * elsewhere. Each member names the file checked (device and inode), so
 * that one replaced before the build opens it (by a symlink to a file
 * elsewhere) is refused unread (see `MemberFile.checked`). Exported for
 * tests.
 */
export async function membersFrom(dir: string, files: readonly string[]): Promise<Record<string, MemberSource>> {
  const realDir = await realpath(dir);
  const members: Record<string, MemberSource> = {};
  for (const name of files.filter((x) => x.endsWith('.ndjson')).sort()) {
    const path = join(dir, name);
    const resolved = await resolveUnder(realDir, Buffer.from(path, 'utf8'));
    if ('error' in resolved) throw toBackfillError(resolved.error, 'IO_ERROR', { path });
    const realPath = resolved.realPath.toString('utf8');
    if (!resolved.inside) {
      throw new BackfillError(
        'INVALID_ARGUMENT',
        `--from: ${path} leads out of ${dir} through a symlink (to ${realPath}); copy the file into ${dir} to pack it.`,
        { context: { path } },
      );
    }
    const kind = notRegular(await stat(realPath));
    if (kind !== undefined) {
      throw new BackfillError(
        'IO_ERROR',
        `--from: ${path} is ${kind}, not a regular file; only regular *.ndjson files are packed: move it out of ${dir} or rename it.`,
        { context: { path } },
      );
    }
    // Opened later without following a symlink in its last part, and read only if it is still the file checked here:
    // an entry that is a symlink (to a file inside dir) is opened by the path it led to.
    const file = (await lstat(path)).isSymbolicLink() ? realPath : path;
    members[name] = { file, checked: await identityInside(dir, realDir, path, file) };
  }
  return members;
}

/**
 * The device and inode of the regular file `file` (the member `path`, or
 * the path it leads to) opens, once the kernel says the opened file lies
 * under `realDir`. A directory on the way swapped for a symlink after the
 * path was resolved would lead a `stat` elsewhere (to a file outside `dir`
 * that the build would then read as the file checked): the identity is
 * taken from the open file, never from the name.
 */
async function identityInside(dir: string, realDir: string, path: string, file: string): Promise<{ dev: number; ino: number }> {
  let handle: FileHandle;
  try {
    handle = await open(file, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY | (constants.O_NOFOLLOW ?? 0));
  } catch (error) {
    if ((error as { code?: unknown }).code !== 'ELOOP') throw toBackfillError(error, 'IO_ERROR', { path });
    throw new BackfillError(
      'IO_ERROR',
      `--from: ${path} changed while it was checked (it became a symlink), so it is refused as unsafe and nothing was written; build again once nothing changes ${dir}.`,
      { cause: error, context: { path } },
    );
  }
  try {
    const opened = await handle.stat();
    const kind = notRegular(opened);
    const outside = kind === undefined ? await openedOutside(realDir, Buffer.from(file, 'utf8'), handle.fd, opened) : undefined;
    if (kind !== undefined || outside !== undefined) {
      throw new BackfillError(
        'IO_ERROR',
        `--from: ${path} changed while it was checked (${kind === undefined ? `it ${outside}` : `it became ${kind}`}), so it is refused as unsafe and nothing was written; build again once nothing changes ${dir}.`,
        { context: { path } },
      );
    }
    return { dev: opened.dev, ino: opened.ino };
  } finally {
    await handle.close();
  }
}

/**
 * The tarball path `given` on the command line, resolved against `cwd`
 * with the trailing "/" that `resolve` drops kept: `out/new/` names a
 * directory, which writeDataset refuses, not a file `new` to write.
 */
function outputPath(cwd: string, given: string): string {
  const resolved = resolve(cwd, given);
  return (given.endsWith('/') || given.endsWith(sep)) && !resolved.endsWith(sep) ? `${resolved}${sep}` : resolved;
}

/** `--level`, checked against what `--compression` takes, so the error names the flags typed. */
function levelFlag(flags: FlagValues, compression: Compression): Result<number | undefined, BackfillError> {
  const range: readonly [number, number] | undefined = COMPRESSION_LEVELS[compression];
  if (range === undefined) {
    return flags['level'] === undefined
      ? ok(undefined)
      : err(new BackfillError('INVALID_ARGUMENT', '--level does not apply to --compression none: leave it out, or choose zstd or gzip.'));
  }
  const [min, max] = range;
  return intFlag(flags, 'level').andThen((level) =>
    level === undefined || (level >= min && level <= max)
      ? ok(level)
      : err(
          new BackfillError('INVALID_ARGUMENT', `--level must be from ${min} to ${max} for ${compression} (--compression), not ${level}.`),
        ),
  );
}

const build: CommandSpec = {
  group: 'dataset',
  name: 'build',
  summary: 'Write a deterministic dataset tarball (manifest first, fixed mtime and level).',
  args: '<out.tar.zst>',
  minArgs: 1,
  maxArgs: 1,
  replaces: "the dataset runbook's build-store-aoc-19-005-dataset.sh",
  flags: {
    from: {
      type: 'string',
      value: '<dir>',
      description:
        'Pack every *.ndjson file of this directory as a member, byte for byte (it must be UTF-8), instead of generating fixture records.',
    },
    linksets: { type: 'string', value: '<n>', description: `Generated ${LINKSETS_MEMBER} records (without --from).`, default: '340' },
    chunks: { type: 'string', value: '<n>', description: `Generated ${CHUNKS_MEMBER} records (without --from).`, default: '1200' },
    seed: {
      type: 'string',
      value: '<n>',
      description: `Seed of the generated records, 0 to ${MAX_SEED}: same seed, same bytes.`,
      default: '1',
    },
    ...ARCHIVE_FLAGS,
    level: {
      type: 'string',
      value: '<n>',
      description: 'Compression level: 1 to 22 for zstd, 0 to 9 for gzip, none for --compression none.',
      defaultText: '3 for zstd, 6 for gzip',
    },
    'sha256-file': {
      type: 'boolean',
      description: 'Also write <out>.sha256 (sha256sum format), which `dataset verify` reads.',
      default: true,
    },
  },
  examples: [
    'backfill-kit dataset build out/linksets/linksets-stage-backfill.tar.zst',
    'backfill-kit dataset build ds.tar.gz --from ./extracted --compression gzip',
  ],
  async *run(ctx) {
    yield* pathArgument(ctx, 0, '<out.tar.zst>');
    // Kept with a trailing slash, which the writer refuses as naming a directory.
    const out = outputPath(ctx.cwd, ctx.positionals[0]!);
    const chosen = (yield* choiceFlag(ctx.flags, 'compression', COMPRESSIONS)) ?? 'zstd';
    const level = yield* levelFlag(ctx.flags, chosen);
    const compression = yield* compressionMatchesName(ctx.positionals[0]!, chosen);
    const mtime = yield* intFlag(ctx.flags, 'mtime', 0, MAX_MTIME);
    const name = stringFlag(ctx.flags, 'name');
    const members: Record<string, MemberSource> = {};
    const from = stringFlag(ctx.flags, 'from');
    if (from !== undefined) {
      const dir = resolve(ctx.cwd, from);
      const files = yield* ioStep(`--from ${dir}`, readdir(dir));
      Object.assign(members, yield* ResultAsync.fromPromise(membersFrom(dir, files), (e) => toBackfillError(e)));
      if (Object.keys(members).length === 0) return failed(new BackfillError('INVALID_ARGUMENT', `--from ${dir} holds no *.ndjson files.`));
    } else {
      // The seeds the generators take; the chunks take the next one, which after the last is 0.
      const seed = (yield* intFlag(ctx.flags, 'seed', 0, MAX_SEED)) ?? 1;
      members[LINKSETS_MEMBER] = generateLinksets((yield* intFlag(ctx.flags, 'linksets', 0)) ?? 340, seed);
      members[CHUNKS_MEMBER] = generateAdvisoryChunks((yield* intFlag(ctx.flags, 'chunks', 0)) ?? 1200, seed === MAX_SEED ? 0 : seed + 1);
    }
    // writeDataset makes a missing parent directory, and removes it again when the write fails.
    const written = await writeDataset(out, {
      members,
      compression,
      ...(level === undefined ? {} : { level }),
      ...(mtime === undefined ? {} : { mtime }),
      ...(name === undefined ? {} : { name }),
      // Written with the tarball, in an order that a kill at any point leaves a pair verify can explain.
      sha256File: booleanFlag(ctx.flags, 'sha256-file'),
      signal: ctx.signal,
    });
    if (written.isErr()) return failed(written.error);
    const { sha256, manifest, sha256File: sidecar } = written.value;
    const report = { path: out, ...written.value };
    return {
      exitCode: EXIT_CODES.OK.code,
      report,
      lines: [
        `Wrote ${out} (${bytes(written.value.bytes)}, ${compression}):`,
        ...manifest.members.map((m) => `  ${m.name}: ${counted(m.records, 'record')}, ${bytes(m.bytes ?? 0)}, sha256 ${m.sha256 ?? '?'}`),
        `Record this SHA-256 (sha256sum format)${sidecar === null ? '' : `, also written to ${sidecar}`}:`,
        checksumLine(ctx.positionals[0]!, sha256).trimEnd(),
      ],
    };
  },
};

function verifyLines(r: VerifyReport): string[] {
  const a = r.archive;
  const lines = [
    `${a.path}: ${a.compression}, ${bytes(a.bytes)} stored, ${bytes(a.tarBytes)} tar`,
    `  tarball sha256 ${a.actualSha256} ${a.verdict === 'not-checked' ? '(no recorded value found: pass --expected-sha256 or keep a .sha256/SHA256SUMS beside it)' : `${a.verdict.toUpperCase()} against ${a.expectedFrom === 'option' ? '--expected-sha256' : (a.expectedFile ?? '')}`}`,
  ];
  for (const m of r.members) {
    const exp = m.expected === null ? 'not in manifest' : `manifest ${counted(m.expected.records, 'record')}`;
    const act =
      m.actual === null
        ? 'missing from archive'
        : `archive ${m.actual.records === null ? '- records' : counted(m.actual.records, 'record')}, ${bytes(m.actual.bytes)}`;
    const bad = m.mismatches.length > 0 ? ` (${m.mismatches.join(', ')} differ)` : '';
    lines.push(`  ${m.name}: ${m.verdict.toUpperCase()}${bad}: ${exp}; ${act}; checked ${m.checks.join(', ') || 'nothing'}`);
  }
  lines.push(r.ok ? 'OK: the dataset matches its manifest.' : `FAILED: ${counted(r.problems.length, 'problem')}.`);
  return lines;
}

/** The reader's limits, as flags: a dataset that really is that large can be read once the operator raises one. */
const LIMIT_FLAGS = {
  'max-decompressed-bytes': {
    option: 'maxDecompressedBytes',
    flag: {
      type: 'string',
      value: '<bytes>',
      description: 'Refuse a tarball that decompresses to more than this (decompression-bomb guard).',
      defaultText: `${DEFAULT_MAX_DECOMPRESSED_BYTES} (64 GiB)`,
    },
  },
  'max-compression-ratio': {
    option: 'maxCompressionRatio',
    flag: {
      type: 'string',
      value: '<n>',
      description: 'Refuse a tarball that decompresses to more than <n> times the compressed bytes read, past the first 64 MiB.',
      defaultText: String(DEFAULT_MAX_COMPRESSION_RATIO),
    },
  },
  'max-line-bytes': {
    option: 'maxLineBytes',
    flag: {
      type: 'string',
      value: '<bytes>',
      description: 'Longest NDJSON line accepted.',
      defaultText: `${DEFAULT_MAX_LINE_BYTES} (64 MiB)`,
    },
  },
  'max-entries': {
    option: 'maxEntries',
    flag: {
      type: 'string',
      value: '<n>',
      description: 'Most tar entries (files and directories, with those the member names imply) the tarball may hold.',
      defaultText: String(DEFAULT_MAX_ENTRIES),
    },
  },
} as const satisfies Record<string, { option: string; flag: FlagSpec }>;

type LimitFlag = keyof typeof LIMIT_FLAGS;
type LimitOptions = { -readonly [K in LimitFlag as (typeof LIMIT_FLAGS)[K]['option']]?: number };

/** The reader's limits as flags: every dataset command that reads a tarball takes all of them. */
const LIMIT_FLAG_SPECS: Record<string, FlagSpec> = Object.fromEntries(Object.entries(LIMIT_FLAGS).map(([name, { flag }]) => [name, flag]));

/** The limit flags given, as the reader's options. */
function limitOptions(flags: FlagValues): Result<LimitOptions, BackfillError> {
  const options: Record<string, number> = {};
  for (const name of Object.keys(LIMIT_FLAGS) as LimitFlag[]) {
    const value = intFlag(flags, name, 1);
    if (value.isErr()) return err(value.error);
    if (value.value !== undefined) options[LIMIT_FLAGS[name].option] = value.value;
  }
  return ok(options as LimitOptions);
}

/**
 * A limit error says which option to raise (`maxEntries`): from the command
 * line that is a flag, named here as such. A line longer than a string holds
 * no flag lets through, and the CLI has no undecoded reading to offer. A
 * line the staging table cannot take says to import with
 * `onInvalid: 'reject'`: here that is `--on-invalid reject`.
 * @internal
 */
export function withLimitFlags(error: BackfillError): BackfillError {
  if (error.code === 'JSONB_UNSUPPORTED' || error.code === 'ID_TOO_LONG')
    return reworded(error, (message) => message.replaceAll("onInvalid: 'reject'", '--on-invalid reject'));
  if (error.code !== 'SIZE_LIMIT_EXCEEDED' && error.code !== 'LINE_TOO_LONG') return error;
  return reworded(error, (text) => {
    let message = text.replace(UNDECODED_ADVICE, 'no flag lets a line that long be read: fix the record');
    for (const [name, { option }] of Object.entries(LIMIT_FLAGS))
      message = message.replace(new RegExp(`\\b${option}\\b`, 'g'), `--${name}`);
    return message;
  });
}

/**
 * A `CHECKSUM_MISMATCH` against the digest recorded beside the tarball, said
 * as `dataset verify` says it: naming the file, and a `.sha256` that a killed
 * `dataset build` left stale, with the advice to rebuild.
 */
async function withRecordedDigest(error: BackfillError, path: string, recorded: Expected | undefined): Promise<BackfillError> {
  const actual = error.context.digest;
  if (error.code !== 'CHECKSUM_MISMATCH' || recorded === undefined || typeof actual !== 'string') return error;
  return new BackfillError(error.code, `${await checksumMismatchMessage(path, recorded, actual)} Nothing was committed.`, {
    cause: error,
    context: error.context,
    ...(error.partial === undefined ? {} : { partial: error.partial }),
  });
}

const verify: CommandSpec = {
  group: 'dataset',
  name: 'verify',
  summary: 'Check a dataset tarball against its manifest (per-member records, bytes, SHA-256) and its recorded SHA-256, in one pass.',
  args: '<tarball>',
  minArgs: 1,
  maxArgs: 1,
  replaces: "the dataset runbook's test-store-aoc-19-005-dataset.sh and its sha256sum of the tarball",
  flags: {
    'expected-sha256': {
      type: 'string',
      value: '<hex>',
      description: 'The recorded SHA-256 of the tarball.',
      defaultText: 'read from <tarball>.sha256, and SHA256SUMS beside it, when present (the two must agree)',
    },
    'sibling-checksums': { type: 'boolean', description: 'Look for <tarball>.sha256 and SHA256SUMS beside the tarball.', default: true },
    ...LIMIT_FLAG_SPECS,
  },
  examples: [
    'backfill-kit dataset verify out/linksets/linksets-stage-backfill.tar.zst',
    'backfill-kit dataset verify ds.tar.zst --expected-sha256 2b43ef9b…',
  ],
  async *run(ctx) {
    const path = yield* pathArgument(ctx, 0, '<tarball>');
    const expectedSha256 = stringFlag(ctx.flags, 'expected-sha256');
    const limits = limitOptions(ctx.flags);
    if (limits.isErr()) return failed(limits.error);
    const progress = ctx.progress(`verify ${ctx.positionals[0]!}`, 'members');
    const result = await verifyDataset(path, {
      ...limits.value,
      ...(expectedSha256 === undefined ? {} : { expectedSha256 }),
      useSiblingChecksums: booleanFlag(ctx.flags, 'sibling-checksums'),
      onProgress: (p) => progress.update(p.membersDone, undefined, p.member),
      signal: ctx.signal,
      logger: ctx.logger,
    });
    progress.done();
    if (result.isErr()) return failed(withLimitFlags(result.error));
    const r = result.value;
    const lines = verifyLines(r);
    if (r.ok) return { exitCode: EXIT_CODES.OK.code, report: r, lines };
    const first = r.problems[0];
    return first === undefined ? { exitCode: EXIT_CODES.MISMATCH.code, report: r, lines } : failed(first.withPartial(r), lines);
  },
};

const importCommand: CommandSpec = {
  group: 'dataset',
  name: 'import',
  summary: 'Load a dataset tarball into the staging tables atomically; counts are checked against the manifest before commit.',
  args: '<tarball>',
  minArgs: 1,
  maxArgs: 1,
  replaces: "the dataset runbook's backfill-store-aoc-19-005.sh and its manual \\copy + count steps",
  flags: {
    ...TABLE_FLAGS,
    ...LIMIT_FLAG_SPECS,
    'dry-run': {
      type: 'boolean',
      description: 'Read and validate everything (duplicate ids and jsonb too, in temporary tables) and write nothing.',
      default: false,
      env: 'DRY_RUN',
    },
    strategy: {
      type: 'string',
      value: '<truncate|swap>',
      description: 'truncate+COPY in one transaction, or COPY into new tables and swap them in.',
      default: DEFAULT_STAGING_STRATEGY,
    },
    'on-invalid': {
      type: 'string',
      value: '<fail|reject>',
      description: 'Abort on the first bad line, or load the good ones and write the bad ones to the reject file (exit 4).',
      default: DEFAULT_ON_INVALID,
    },
    'reject-path': {
      type: 'string',
      value: '<file>',
      description: 'Where rejected lines go.',
      defaultText: `<tarball>${DEFAULT_REJECT_SUFFIX}`,
    },
    'expected-sha256': {
      type: 'string',
      value: '<hex>',
      description: "Refuse the tarball unless its SHA-256 is this (the runbook's recorded value).",
    },
    'sibling-checksums': {
      type: 'boolean',
      description:
        'Without --expected-sha256, refuse the tarball unless it matches <tarball>.sha256 (written by `dataset build`) and SHA256SUMS beside it, when present.',
      default: true,
    },
    'id-field': { type: 'string', value: '<field>', description: 'Field holding each record id.', default: DEFAULT_ID_FIELD },
    'lock-timeout-ms': LOCK_TIMEOUT_FLAG,
  },
  examples: [
    'PGURI=postgres://… backfill-kit dataset import out/linksets/linksets-stage-backfill.tar.zst',
    'DRY_RUN=1 backfill-kit dataset import ds.tar.zst --pg "Host=db;Database=concelier;Username=ops"',
  ],
  async *run(ctx) {
    const path = yield* pathArgument(ctx, 0, '<tarball>');
    const schema = stringFlag(ctx.flags, 'schema') ?? DEFAULT_STAGING_SCHEMA;
    const tables = yield* tableMap(ctx.flags);
    const strategy = yield* choiceFlag(ctx.flags, 'strategy', ['truncate', 'swap'] as const);
    const onInvalid = yield* choiceFlag(ctx.flags, 'on-invalid', ['fail', 'reject'] as const);
    if (onInvalid !== 'reject') yield* onlyWith(ctx.flags, ['reject-path'], '--on-invalid reject');
    const rejectPath = stringFlag(ctx.flags, 'reject-path');
    const expectedFlag = stringFlag(ctx.flags, 'expected-sha256');
    const idField = stringFlag(ctx.flags, 'id-field');
    const lockTimeoutMs = yield* lockTimeoutFlag(ctx.flags);
    const importLimits = yield* limitOptions(ctx.flags);
    if (expectedFlag !== undefined && !isSha256Hex(expectedFlag)) {
      return failed(new BackfillError('INVALID_ARGUMENT', `--expected-sha256 must be 64 hex digits, not ${JSON.stringify(expectedFlag)}.`));
    }
    // The digest recorded beside the tarball, found as `dataset verify` finds it.
    const recorded =
      expectedFlag === undefined && booleanFlag(ctx.flags, 'sibling-checksums')
        ? yield* findExpected(path, { signal: ctx.signal })
        : undefined;
    const expectedSha256 = expectedFlag ?? recorded?.sha256;
    if (recorded !== undefined)
      ctx.logger.info(`checking the tarball's SHA-256 against ${recorded.file ?? recorded.from} (--no-sibling-checksums to skip)`);
    const pool = yield* ctx.pgPool(DATASET_DB_VARS);
    const importer = new StagingImporter({
      pg: pool,
      schema,
      tables,
      logger: ctx.logger,
      ...(idField === undefined ? {} : { idField }),
      ...(lockTimeoutMs === undefined ? {} : { lockTimeoutMs }),
    });
    const total = await manifestTotal(path, Object.keys(tables));
    const progress = ctx.progress(`import ${ctx.positionals[0]!}`, 'rows');
    const result = await importer.import(path, {
      ...importLimits,
      dryRun: booleanFlag(ctx.flags, 'dry-run'),
      ...(strategy === undefined ? {} : { strategy }),
      ...(onInvalid === undefined ? {} : { onInvalid }),
      ...(rejectPath === undefined ? {} : { rejectPath: resolve(ctx.cwd, rejectPath) }),
      ...(expectedSha256 === undefined ? {} : { expectedSha256 }),
      onProgress: (p) => progress.update(p.rows + p.rejected, total, p.phase === 'verify' || p.phase === 'commit' ? p.phase : undefined),
      signal: ctx.signal,
      logger: ctx.logger,
    });
    progress.done();
    if (result.isErr()) {
      const partial = result.error.partial;
      // A report is worth printing only once the archive was read (e.g. a count mismatch), not for a missing file.
      const error = await withRecordedDigest(withLimitFlags(result.error), path, recorded);
      return failed(error, partial === undefined || partial.sha256 === null ? [] : importLines(partial, schema, true));
    }
    const r = result.value;
    // Belt and braces for "COPY 0, exit 0": success needs a commit (or a dry run) and every table matching its manifest.
    const bad = r.tables.filter((t) => !t.ok);
    if ((!r.committed && !r.dryRun) || bad.length > 0) {
      const error = new BackfillError(
        'COUNT_MISMATCH',
        `the import did not end with every table matching the manifest (${bad.map((t) => t.table).join(', ') || 'not committed'}).`,
        { partial: r },
      );
      return { ...failed(error, importLines(r, schema, true)), exitCode: EXIT_CODES.MISMATCH.code };
    }
    const exitCode = r.rejected > 0 ? EXIT_CODES.REJECTS.code : EXIT_CODES.OK.code;
    return { exitCode, report: r, lines: importLines(r, schema) };
  },
};

const exportCommand: CommandSpec = {
  group: 'dataset',
  name: 'export',
  summary: 'Export the staging tables to a deterministic dataset tarball with its manifest, and print its SHA-256.',
  args: '<out.tar.zst>',
  minArgs: 1,
  maxArgs: 1,
  replaces: "the dataset runbook's export-linksets-tarball.sh",
  flags: {
    ...TABLE_FLAGS,
    ...ARCHIVE_FLAGS,
    'sha256-file': {
      type: 'boolean',
      description: 'Also write <out>.sha256 (sha256sum format), which `dataset verify` reads.',
      default: true,
    },
    'lock-timeout-ms': {
      ...LOCK_TIMEOUT_FLAG,
      description: 'How long to wait for a session (such as an import) holding a table to export; then fail naming it.',
    },
  },
  examples: [
    'PGURI=postgres://… LINKSETS_TABLE=linksets CHUNKS_TABLE=advisory_chunks backfill-kit dataset export out/linksets/linksets-stage-backfill.tar.zst',
  ],
  async *run(ctx) {
    yield* pathArgument(ctx, 0, '<out.tar.zst>');
    // Kept with a trailing slash, which the writer refuses as naming a directory.
    const out = outputPath(ctx.cwd, ctx.positionals[0]!);
    const chosen = (yield* choiceFlag(ctx.flags, 'compression', COMPRESSIONS)) ?? 'zstd';
    const compression = yield* compressionMatchesName(ctx.positionals[0]!, chosen);
    const mtime = yield* intFlag(ctx.flags, 'mtime', 0, MAX_MTIME);
    const name = stringFlag(ctx.flags, 'name');
    const lockTimeoutMs = yield* lockTimeoutFlag(ctx.flags);
    const pool = yield* ctx.pgPool(DATASET_DB_VARS);
    yield* ensureParent(out);
    const progress = ctx.progress(`export ${ctx.positionals[0]!}`, 'rows');
    let finished = 0;
    let lastRows = 0;
    let current = '';
    const result = await exportDataset(
      { pg: pool, schema: stringFlag(ctx.flags, 'schema') ?? DEFAULT_STAGING_SCHEMA, tables: yield* tableMap(ctx.flags) },
      out,
      {
        compression,
        ...(mtime === undefined ? {} : { mtime }),
        ...(name === undefined ? {} : { name }),
        ...(lockTimeoutMs === undefined ? {} : { lockTimeoutMs }),
        sha256File: booleanFlag(ctx.flags, 'sha256-file'),
        onProgress: (p) => {
          if (p.member !== current) {
            finished += lastRows;
            current = p.member;
          }
          lastRows = p.rows;
          progress.update(finished + p.rows);
        },
        signal: ctx.signal,
        logger: ctx.logger,
      },
    );
    progress.done();
    if (result.isErr()) return failed(result.error);
    const r = result.value;
    return {
      exitCode: EXIT_CODES.OK.code,
      report: r,
      lines: [
        `Exported ${r.tables.map((t) => `${t.table} (${counted(t.rows, 'row')})`).join(', ')} to ${r.path} (${bytes(r.bytes)}) in ${(r.durationMs / 1000).toFixed(2)} s.`,
        `manifest: ${JSON.stringify(r.manifest)}`,
        checksumLine(ctx.positionals[0]!, r.sha256).trimEnd(),
      ],
    };
  },
};

const rollback: CommandSpec = {
  group: 'dataset',
  name: 'rollback',
  summary: 'Empty the staging tables in one transaction (the runbook rollback), printing the counts before and after.',
  args: '',
  minArgs: 0,
  maxArgs: 0,
  replaces: 'the dataset runbook\'s rollback step "truncate table lnm_raw.linksets_raw; truncate table lnm_raw.advisory_chunks_raw"',
  flags: {
    ...TABLE_FLAGS,
    'dry-run': { type: 'boolean', description: 'Only print the row counts that would be removed.', default: false, env: 'DRY_RUN' },
    'lock-timeout-ms': LOCK_TIMEOUT_FLAG,
  },
  examples: ['PGURI=postgres://… backfill-kit dataset rollback', 'backfill-kit dataset rollback --dry-run --json'],
  async *run(ctx) {
    const pool = yield* ctx.pgPool(DATASET_DB_VARS);
    const schema = stringFlag(ctx.flags, 'schema') ?? DEFAULT_STAGING_SCHEMA;
    const lockTimeoutMs = yield* lockTimeoutFlag(ctx.flags);
    const importer = new StagingImporter({
      pg: pool,
      schema,
      tables: yield* tableMap(ctx.flags),
      logger: ctx.logger,
      ...(lockTimeoutMs === undefined ? {} : { lockTimeoutMs }),
    });
    const before = yield* await importer.counts();
    const dryRun = booleanFlag(ctx.flags, 'dry-run');
    const describe = (c: Readonly<Record<string, number>>): string =>
      Object.entries(c)
        .map(([t, n]) => `${schema}.${t}=${num(n)}`)
        .join(', ');
    if (dryRun) {
      return {
        exitCode: EXIT_CODES.OK.code,
        report: { dryRun, before: before, after: before },
        lines: [`Dry run: rollback would empty ${describe(before)}.`],
      };
    }
    const done = await importer.rollback({ signal: ctx.signal });
    if (done.isErr()) return failed(done.error.withPartial({ dryRun, before: before }));
    const after = await importer.counts();
    if (after.isErr()) return failed(after.error.withPartial({ dryRun, before: before }));
    return {
      exitCode: EXIT_CODES.OK.code,
      report: { dryRun, before: before, after: after.value },
      lines: [`Rolled back: before ${describe(before)}; after ${describe(after.value)}.`],
    };
  },
};

/** The `dataset` subcommands. */
export const datasetCommands: readonly CommandSpec[] = [build, verify, importCommand, exportCommand, rollback];
