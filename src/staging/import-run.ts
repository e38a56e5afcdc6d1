/**
 * One `StagingImporter.import` call: its options resolved once into a
 * frozen run context, then passes over the archive (more than one only when
 * duplicate lines are rejected), each of which loads every member, checks
 * the counts against the manifest and commits, or leaves nothing behind.
 *
 * @module
 */
import { err, ok, Result, ResultAsync, safeTry } from 'neverthrow';
import { BackfillError, toBackfillError } from '../errors.js';
import { readDataset } from '../dataset/read-dataset.js';
import type { Dataset, DatasetManifest, DatasetMember, DatasetStats, ReadDatasetOptions } from '../dataset/types.js';
import { type Logger, throwIfAborted } from '../_internals/logger.js';
import { isSha256Hex } from '../_internals/sha256-hex.js';
import {
  DEFAULT_COPY_BATCH_BYTES,
  DEFAULT_MAX_DUPLICATE_RETRIES,
  DEFAULT_ON_INVALID,
  DEFAULT_REJECT_SUFFIX,
  DEFAULT_STAGING_PROGRESS_EVERY_ROWS,
  DEFAULT_STAGING_STRATEGY,
} from './defaults.js';
import { checkLine, type LineVerdict, lineOfRow, linesOfId, type RescanContext, type SkipSet } from './line-check.js';
import { RejectWriter } from './reject-writer.js';
import type { ImportOptions, ImportProgress, ImportReport, OnInvalid } from './staging-importer.js';
import type { StagingCommitInfo, StagingRow, StagingRowReject, StagingSession, StagingStrategy, StagingTarget } from './staging-target.js';

/** One member and the table it loads into. */
export interface MemberSpec {
  readonly member: string;
  readonly table: string;
}

/** What the importer's constructor resolved: the same for every import. */
export interface ImporterContext {
  readonly target: StagingTarget;
  readonly specs: readonly MemberSpec[];
  readonly idField: string | undefined;
  readonly maxIdBytes: number | undefined;
  readonly logger: Logger | undefined;
}

/** Everything one import needs, resolved once from the importer's context and the call's options. */
export interface RunContext extends ImporterContext, RescanContext {
  readonly dryRun: boolean;
  readonly strategy: StagingStrategy;
  readonly onInvalid: OnInvalid;
  readonly rejectPath: string;
  readonly batchBytes: number;
  readonly progressEveryRows: number;
  readonly maxDuplicateRetries: number;
  readonly expectedSha256: string | undefined;
  readonly reader: ReadDatasetOptions;
  readonly onProgress: ((progress: ImportProgress) => void) | undefined;
  /** `process.hrtime.bigint()` when the import started. */
  readonly started: bigint;
}

function invalid(message: string): BackfillError {
  return new BackfillError('INVALID_ARGUMENT', message);
}

/** Checks the call's options before any file is opened, and freezes them with the importer's context. */
export function resolveRun(context: ImporterContext, path: string, o: ImportOptions): Result<Readonly<RunContext>, BackfillError> {
  if (typeof path !== 'string' || path.length === 0) return err(invalid('pass the path of a dataset tarball.'));
  const strategy = o.strategy ?? DEFAULT_STAGING_STRATEGY;
  if (strategy !== 'truncate' && strategy !== 'swap')
    return err(invalid(`strategy must be "truncate" or "swap", not ${JSON.stringify(strategy)}.`));
  const onInvalid = o.onInvalid ?? DEFAULT_ON_INVALID;
  if (onInvalid !== 'fail' && onInvalid !== 'reject')
    return err(invalid(`onInvalid must be "fail" or "reject", not ${JSON.stringify(onInvalid)}.`));
  const batchBytes = o.batchBytes ?? DEFAULT_COPY_BATCH_BYTES;
  const progressEveryRows = o.progressEveryRows ?? DEFAULT_STAGING_PROGRESS_EVERY_ROWS;
  const maxDuplicateRetries = o.maxDuplicateRetries ?? DEFAULT_MAX_DUPLICATE_RETRIES;
  if (!(batchBytes > 0)) return err(invalid('batchBytes must be a positive number.'));
  if (!(progressEveryRows > 0)) return err(invalid('progressEveryRows must be a positive number.'));
  if (!(maxDuplicateRetries >= 0)) return err(invalid('maxDuplicateRetries must be zero or more.'));
  // Checked now, not after a whole import that could never match.
  if (o.expectedSha256 !== undefined && !isSha256Hex(o.expectedSha256))
    return err(invalid(`expectedSha256 must be 64 hexadecimal digits, got ${JSON.stringify(o.expectedSha256)}.`));
  const signal = o.signal;
  return ok(
    Object.freeze({
      ...context,
      path,
      dryRun: o.dryRun === true,
      strategy,
      onInvalid,
      rejectPath: o.rejectPath ?? `${path}${DEFAULT_REJECT_SUFFIX}`,
      batchBytes,
      progressEveryRows,
      maxDuplicateRetries,
      expectedSha256: o.expectedSha256,
      reader: Object.freeze({
        ...(signal === undefined ? {} : { signal }),
        ...(o.maxLineBytes === undefined ? {} : { maxLineBytes: o.maxLineBytes }),
        ...(o.maxDecompressedBytes === undefined ? {} : { maxDecompressedBytes: o.maxDecompressedBytes }),
      }),
      signal,
      logger: o.logger ?? context.logger,
      onProgress: o.onProgress,
      started: process.hrtime.bigint(),
    }),
  );
}

interface TableState {
  loaded: number;
  rejected: number;
  expected: number | null;
}

/** Mutable figures of the current pass, turned into the report. */
class PassState {
  readonly tables = new Map<string, TableState>();
  readonly checks: string[] = [];
  rows = 0;
  rejected = 0;
  rawChars = 0;
  committed = false;
  stats: DatasetStats | null = null;
  manifest: DatasetManifest | null = null;
  lock: StagingCommitInfo | null = null;
  dropped: readonly string[] = [];
  /** The first failed table load; stops the others between batches. */
  loadFailure: BackfillError | undefined;

  constructor(specs: readonly MemberSpec[]) {
    for (const s of specs) this.tables.set(s.member, { loaded: 0, rejected: 0, expected: null });
  }

  progress(phase: ImportProgress['phase'], where: { member: string; table: string } | undefined = undefined): ImportProgress {
    return { phase, ...where, rows: this.rows, rejected: this.rejected, rawChars: this.rawChars };
  }
}

/** One pass over the archive. */
interface Pass {
  readonly run: RunContext;
  readonly state: PassState;
  /** Lines earlier passes found to be duplicates; shared by every pass. */
  readonly skip: SkipSet;
  readonly rejects: RejectWriter | undefined;
}

/**
 * Runs the import: passes until one commits (or, on a dry run, validates),
 * or fails with the partial report attached as `error.partial`.
 */
export function runImport(run: RunContext): ResultAsync<ImportReport, BackfillError<ImportReport>> {
  // Only a caller's logger or onProgress can throw out here; that is the import's error too.
  return new ResultAsync(passes(run).catch((thrown: unknown) => err(unreported(toBackfillError(thrown)))));
}

/** An error raised before a pass began: there is no report yet, so `partial` stays undefined. */
export function unreported(error: BackfillError): BackfillError<ImportReport> {
  return error as BackfillError<ImportReport>;
}

/** `work`, with anything it throws (a caller's `onProgress`, say) as its error rather than a rejected promise. */
async function settled<T, E>(work: PromiseLike<Result<T, E>>): Promise<Result<T, E | BackfillError>> {
  try {
    return await work;
  } catch (thrown) {
    return err(toBackfillError(thrown));
  }
}

async function passes(run: RunContext): Promise<Result<ImportReport, BackfillError<ImportReport>>> {
  const skip: SkipSet = new Map();
  for (let attempt = 1; ; attempt += 1) {
    const state = new PassState(run.specs);
    const outcome = await onePass(run, state, skip);
    if (outcome.isOk()) {
      const done = report(run, state, attempt);
      run.logger?.info('staging import finished', {
        path: run.path,
        rows: done.rows,
        rejected: done.rejected,
        committed: done.committed,
        dryRun: done.dryRun,
      });
      run.onProgress?.(state.progress('done'));
      return ok(done);
    }
    const next = await afterFailure(run, outcome.error, skip, attempt);
    if (next.retry) continue;
    run.logger?.error('staging import failed; nothing was committed', { path: run.path, code: next.error.code });
    return err(next.error.withPartial(report(run, state, attempt)));
  }
}

/** Opens the reject file (if any), runs the pass, and closes the file whatever happened. */
function onePass(run: RunContext, state: PassState, skip: SkipSet): ResultAsync<void, BackfillError> {
  return safeTry(async function* () {
    const rejects = run.onInvalid === 'reject' ? yield* RejectWriter.open(run.rejectPath) : undefined;
    const loaded = await loadAndCommit({ run, state, skip, rejects });
    const closed = rejects === undefined ? ok(0) : await rejects.close();
    yield* loaded;
    yield* closed;
    return ok(undefined);
  });
}

/** `ABORTED` once `signal` has fired, as every long operation reports it. */
const notAborted = Result.fromThrowable(throwIfAborted, (e) => toBackfillError(e));

/** Begins a session, fills and checks it, commits it; a session that did not commit is aborted. */
function loadAndCommit(pass: Pass): ResultAsync<void, BackfillError> {
  const { run, state } = pass;
  return safeTry(async function* () {
    yield* notAborted(run.signal);
    const session = yield* run.target.begin({
      strategy: run.strategy,
      dryRun: run.dryRun,
      tables: run.specs.map((s) => s.table),
      ...(run.signal === undefined ? {} : { signal: run.signal }),
      ...(run.logger === undefined ? {} : { logger: run.logger }),
    });
    const done = await settled(fillAndCommit(pass, session));
    if (!state.committed) await session.abort();
    return done;
  });
}

function fillAndCommit(pass: Pass, session: StagingSession): ResultAsync<void, BackfillError> {
  const { run, state } = pass;
  return safeTry(async function* () {
    const ds = readDataset(run.path, run.reader);
    const seen = yield* await loadMembers(pass, session, ds);
    yield* verify(pass, session, ds, seen);
    if (run.dryRun) {
      yield* session.abort();
      return ok(undefined);
    }
    run.onProgress?.(state.progress('commit'));
    const { dropped, ...lock } = yield* session.commit();
    state.lock = lock;
    state.dropped = dropped ?? [];
    state.committed = true;
    return ok(undefined);
  });
}

/**
 * Reads the archive once, member after member, and resolves with the
 * members it found once every load has settled. A member's load may still
 * be finishing (its COPY draining, its primary key being built) while the
 * next member is read into the next table's load.
 */
async function loadMembers(pass: Pass, session: StagingSession, ds: Dataset): Promise<Result<ReadonlySet<string>, BackfillError>> {
  const { run, state } = pass;
  const bySpec = new Map(run.specs.map((s) => [s.member, s]));
  const seen = new Set<string>();
  const loads: Promise<void>[] = [];
  let failure: BackfillError | undefined;
  try {
    for await (const member of ds) {
      const spec = bySpec.get(member.name);
      if (spec === undefined) continue;
      seen.add(member.name);
      const { read, load } = startLoad(pass, session, member, spec);
      loads.push(load);
      await read;
      if (state.loadFailure !== undefined) break;
    }
  } catch (thrown) {
    failure = toBackfillError(thrown, 'IO_ERROR');
  }
  await Promise.all(loads);
  failure ??= state.loadFailure;
  return failure === undefined ? ok(seen) : err(failure);
}

/** Starts one member's load; `read` settles once its lines have been consumed, `load` once the target is done. */
function startLoad(
  pass: Pass,
  session: StagingSession,
  member: DatasetMember,
  spec: MemberSpec,
): { read: Promise<void>; load: Promise<void> } {
  const { state } = pass;
  const table = state.tables.get(member.name)!;
  let consumed!: () => void;
  const read = new Promise<void>((resolve) => {
    consumed = resolve;
  });
  const batches = thenCall(memberBatches(pass, member, spec, table), consumed);
  const load = (async (): Promise<void> => {
    const loaded = await session.load(spec.table, batches, rowRejecter(pass, member.name, table));
    if (loaded.isOk()) table.loaded = loaded.value;
    else state.loadFailure ??= loaded.error;
    consumed();
  })();
  return { read, load };
}

/** Receives rows the target itself cannot store (MongoDB's 16 MiB limit), when rejecting. */
function rowRejecter(pass: Pass, member: string, table: TableState): StagingRowReject | undefined {
  const { rejects, state } = pass;
  if (rejects === undefined) return undefined;
  return async (row: StagingRow, error: BackfillError): Promise<void> => {
    await rejects.write({ member, line: row.line ?? 0, code: error.code, reason: error.message, raw: row.raw });
    table.rejected += 1;
    state.rejected += 1;
    state.rows -= 1;
  };
}

/** `source`, calling `done` once it ends, fails or is abandoned. */
async function* thenCall<T>(source: AsyncIterable<T>, done: () => void): AsyncGenerator<T> {
  try {
    yield* source;
  } finally {
    done();
  }
}

/**
 * One member's lines, checked and gathered into batches of about
 * `batchBytes`. A bad line goes to the reject file, or (when failing)
 * is thrown into the target's load, which fails with it.
 */
async function* memberBatches(pass: Pass, member: DatasetMember, spec: MemberSpec, table: TableState): AsyncGenerator<StagingRow[]> {
  const { run, state, rejects } = pass;
  const { idField, maxIdBytes, batchBytes, progressEveryRows } = run;
  const name = member.name;
  const skipped = pass.skip.get(name);
  const where = { member: name, table: spec.table };
  const progress = (): void => run.onProgress?.(state.progress('load', where));
  let nextProgress = state.rows + progressEveryRows;
  let batch: StagingRow[] = [];
  let size = 0;
  progress();
  // One await per decompressed chunk of lines, not per line.
  for await (const lines of member.lineBatches()) {
    // Another table's load failed: stop reading, the import fails with that.
    if (state.loadFailure !== undefined) return;
    for (const { line, raw } of lines) {
      state.rawChars += raw.length;
      const dupReason = skipped?.get(line);
      const verdict: LineVerdict =
        dupReason === undefined
          ? checkLine(raw, name, line, idField, maxIdBytes)
          : { code: 'DUPLICATE_ID', error: new BackfillError('DUPLICATE_ID', dupReason, { context: { member: name, line } }) };
      if (!('id' in verdict)) {
        if (rejects === undefined) throw verdict.error;
        await rejects.write({ member: name, line, code: verdict.code, reason: verdict.error.message, raw });
        table.rejected += 1;
        state.rejected += 1;
        continue;
      }
      batch.push({ id: verdict.id, raw, line });
      size += raw.length;
      state.rows += 1;
      if (size >= batchBytes) {
        yield batch;
        batch = [];
        size = 0;
        if (state.rows >= nextProgress) {
          nextProgress = state.rows + progressEveryRows;
          progress();
        }
      }
    }
  }
  if (batch.length > 0) yield batch;
  progress();
}

/** Before commit: the tarball's digest, each member against the manifest, and each table's count inside the session. */
function verify(pass: Pass, session: StagingSession, ds: Dataset, seen: ReadonlySet<string>): ResultAsync<void, BackfillError> {
  const { run, state } = pass;
  return safeTry(async function* () {
    const stats = yield* ds.stats();
    const manifest = yield* ds.manifest();
    state.stats = stats;
    state.manifest = manifest;
    run.onProgress?.(state.progress('verify'));
    if (run.expectedSha256 !== undefined) {
      yield* checkTarballDigest(stats, run.expectedSha256);
      state.checks.push('tarball sha256');
    }
    const ran = new Set<string>();
    for (const spec of run.specs) {
      const entry = yield* checkMember(spec, seen, stats, manifest);
      if (entry.bytes !== undefined) ran.add('member bytes');
      if (entry.sha256 !== undefined) ran.add('member sha256');
      const table = state.tables.get(spec.member)!;
      table.expected = entry.records;
      const count = yield* session.count(spec.table);
      yield* checkCount(spec, table, count);
      table.loaded = count;
    }
    state.checks.push(...ran, 'row counts');
    return ok(undefined);
  });
}

function checkTarballDigest(stats: DatasetStats, expected: string): Result<void, BackfillError> {
  if (stats.sha256 === expected.toLowerCase()) return ok(undefined);
  return err(
    new BackfillError(
      'CHECKSUM_MISMATCH',
      `the tarball's SHA-256 is ${stats.sha256}, not the expected ${expected}; fetch it again. Nothing was committed.`,
      { context: { digest: stats.sha256 } },
    ),
  );
}

type ManifestEntry = DatasetManifest['members'][number];

/** The member was read, is in the manifest, and its bytes and SHA-256 match what the manifest records. */
function checkMember(
  spec: MemberSpec,
  seen: ReadonlySet<string>,
  stats: DatasetStats,
  manifest: DatasetManifest,
): Result<ManifestEntry, BackfillError> {
  const entry = manifest.members.find((m) => m.name === spec.member);
  const measured = stats.members.find((m) => m.name === spec.member);
  if (!seen.has(spec.member) || measured === undefined) {
    return err(
      new BackfillError(
        'MANIFEST_MISMATCH',
        `the archive has no member ${spec.member}, which is configured for table ${spec.table}. Nothing was committed.`,
        { context: { member: spec.member, table: spec.table } },
      ),
    );
  }
  if (entry === undefined) {
    return err(
      new BackfillError(
        'MANIFEST_MISMATCH',
        `manifest.json does not list ${spec.member}, so its row count cannot be checked. Nothing was committed.`,
        { context: { member: spec.member, table: spec.table } },
      ),
    );
  }
  if (entry.bytes !== undefined && entry.bytes !== measured.bytes) {
    return err(
      new BackfillError(
        'MANIFEST_MISMATCH',
        `${spec.member} is ${measured.bytes} bytes but the manifest says ${entry.bytes}. Nothing was committed.`,
        { context: { member: spec.member, expected: entry.bytes, actual: measured.bytes } },
      ),
    );
  }
  if (entry.sha256 !== undefined && entry.sha256.toLowerCase() !== measured.sha256) {
    return err(
      new BackfillError(
        'CHECKSUM_MISMATCH',
        `${spec.member} has SHA-256 ${measured.sha256} but the manifest says ${entry.sha256}. Nothing was committed.`,
        { context: { member: spec.member, digest: measured.sha256 } },
      ),
    );
  }
  return ok(entry);
}

/** Rows counted in the session equal the rows loaded, and with the rejected lines make up the manifest's records. */
function checkCount(spec: MemberSpec, table: TableState, count: number): Result<void, BackfillError> {
  const expected = table.expected ?? 0;
  if (count === table.loaded && count + table.rejected === expected) return ok(undefined);
  return err(
    new BackfillError(
      'COUNT_MISMATCH',
      `${spec.member}: the manifest says ${expected} records, but ${count} rows were loaded into ${spec.table}${table.rejected > 0 ? ` and ${table.rejected} lines rejected` : ''}. Nothing was committed.`,
      { context: { member: spec.member, table: spec.table, expected, loaded: count, rejected: table.rejected } },
    ),
  );
}

/** What a failed pass leads to: another pass with more duplicate lines set aside, or the import's error. */
type AfterFailure = { readonly retry: true } | { readonly retry: false; readonly error: BackfillError };

/**
 * Names the lines behind a failure PostgreSQL reported by id (a duplicate)
 * or by COPY row; with `onInvalid: 'reject'`, a duplicate's later lines are
 * set aside for another pass while retries remain.
 */
async function afterFailure(run: RunContext, error: BackfillError, skip: SkipSet, attempt: number): Promise<AfterFailure> {
  const id = error.code === 'DUPLICATE_ID' ? error.context.id : undefined;
  const dupSpec = typeof id === 'string' ? run.specs.find((s) => s.table === error.context.table) : undefined;
  if (typeof id === 'string' && dupSpec !== undefined) {
    const lines = await linesOfId(run, dupSpec.member, id, skip);
    const canReject = run.onInvalid === 'reject' && lines.length > 1;
    if (canReject && attempt <= run.maxDuplicateRetries) {
      const memberSkip = skip.get(dupSpec.member) ?? new Map<number, string>();
      for (const line of lines.slice(1))
        memberSkip.set(line, `${dupSpec.member} line ${line}: id ${JSON.stringify(id)} duplicates line ${lines[0]}`);
      skip.set(dupSpec.member, memberSkip);
      run.logger?.warn('duplicate id rejected; importing again', { member: dupSpec.member, id, lines });
      return { retry: true };
    }
    return { retry: false, error: duplicateError(error, dupSpec, lines, canReject) };
  }
  return { retry: false, error: await withCopyLine(run, error, skip) };
}

function duplicateError(error: BackfillError, spec: MemberSpec, lines: readonly number[], retriesExhausted: boolean): BackfillError {
  const id = String(error.context.id);
  const where = lines.length >= 2 ? `lines ${lines[0]} and ${lines[1]}` : 'two lines (not located on a second read)';
  const extra = retriesExhausted ? ' (maxDuplicateRetries reached)' : '';
  return new BackfillError(
    'DUPLICATE_ID',
    `${spec.member}: id ${JSON.stringify(id)} appears on ${where}${extra}; remove one of them. Nothing was committed.`,
    {
      cause: error,
      context: {
        ...error.context,
        member: spec.member,
        table: spec.table,
        id,
        lines: lines.slice(0, 2),
        ...(lines[1] === undefined ? {} : { line: lines[1] }),
      },
      ...(error.dbCode === undefined ? {} : { dbCode: error.dbCode }),
    },
  );
}

/** A row PostgreSQL refused during COPY (`COPY t, line N`), named by its member's line. */
async function withCopyLine(run: RunContext, error: BackfillError, skip: SkipSet): Promise<BackfillError> {
  const copyRow = typeof error.context.where === 'string' ? /^COPY \S+, line (\d+)/.exec(error.context.where) : null;
  const spec = run.specs.find((s) => s.table === error.context.table);
  if (error.code === 'DUPLICATE_ID' || copyRow === null || spec === undefined || error.context.line !== undefined) return error;
  const line = await lineOfRow(run, spec.member, Number(copyRow[1]), skip);
  if (line === undefined) return error;
  return new BackfillError(error.code, `${spec.member} line ${line}: ${error.message}`, {
    cause: error,
    context: { ...error.context, member: spec.member, line },
    ...(error.dbCode === undefined ? {} : { dbCode: error.dbCode }),
  });
}

function report(run: RunContext, state: PassState, attempts: number): ImportReport {
  const durationMs = Number(process.hrtime.bigint() - run.started) / 1e6;
  const tables = run.specs.map((s) => {
    const t = state.tables.get(s.member) ?? { loaded: 0, rejected: 0, expected: null };
    return {
      member: s.member,
      table: s.table,
      loaded: t.loaded,
      rejected: t.rejected,
      expected: t.expected,
      ok: t.expected !== null && t.loaded + t.rejected === t.expected,
    };
  });
  const rows = tables.reduce((n, t) => n + t.loaded, 0);
  const seconds = Math.max(durationMs / 1000, 1e-9);
  return {
    path: run.path,
    sha256: state.stats?.sha256 ?? null,
    bytes: state.stats?.bytes ?? null,
    tarBytes: state.stats?.tarBytes ?? null,
    strategy: run.strategy,
    dryRun: run.dryRun,
    committed: state.committed,
    tables,
    rows,
    rejected: state.rejected,
    rejectPath: run.onInvalid === 'reject' ? run.rejectPath : null,
    checks: [...state.checks],
    durationMs,
    rowsPerSecond: rows / seconds,
    bytesPerSecond: (state.stats?.bytes ?? 0) / seconds,
    lock: state.lock,
    dropped: [...state.dropped],
    attempts,
    manifest: state.manifest,
  };
}
