/**
 * One `StagingImporter.import` call: passes over the archive (more than one
 * only when duplicate lines are rejected), each of which loads every
 * member, checks the counts against the manifest and commits, or leaves
 * nothing behind.
 *
 * @module
 */
import { isUtf8 } from 'node:buffer';
import { err, ok, Result, ResultAsync, safeTry } from 'neverthrow';
import { BackfillError, toBackfillError } from '../errors.js';
import { readDataset } from '../dataset/read-dataset.js';
import type { Dataset, DatasetLine, DatasetManifest, DatasetMember, DatasetStats } from '../dataset/types.js';
import type { UnreadableLine } from '../dataset/dataset-member.js';
import { throwIfAborted } from '../_internals/logger.js';
import type { MemberSpec, RunContext } from './import-context.js';
import { afterFailure } from './import-failure.js';
import {
  checkEntry,
  checkedLineBatches,
  duplicateAnchors,
  skipMember,
  fileChangedError,
  type LineVerdict,
  type SkipSet,
} from './line-check.js';
import { checkCount, checkMember, checkTarballDigest, type TableCounts } from './manifest-checks.js';
import { RejectWriter, type RejectEntry } from './reject-writer.js';
import type { ImportProgress, ImportReport } from './staging-importer.js';
import type { StagingCommitInfo, StagingRow, StagingRowReject, StagingSession } from './staging-target.js';

/** Mutable figures of the current pass, turned into the report. */
class PassState {
  readonly tables = new Map<string, TableCounts>();
  readonly checks: string[] = [];
  rows = 0;
  rejected = 0;
  rawChars = 0;
  committed = false;
  stats: DatasetStats<string> | null = null;
  manifest: DatasetManifest | null = null;
  lock: StagingCommitInfo | null = null;
  dropped: readonly string[] = [];
  /** The first failed table load; stops the others between batches. */
  loadFailure: BackfillError | undefined;

  constructor(specs: readonly MemberSpec[]) {
    for (const s of specs) this.tables.set(s.member, { loaded: 0, rejected: 0, expected: null });
  }

  progress(phase: ImportProgress['phase'], where?: { member: string; table: string }): ImportProgress {
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
  // Nothing a caller gives can throw out here (its logger and onProgress are wrapped); anything else still comes back as an error, never a rejection.
  return new ResultAsync(passes(run).catch((thrown: unknown) => err(toBackfillError(thrown).withoutPartial())));
}

/** `work`, with anything it throws as its error rather than a rejected promise. */
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
      run.onProgress(state.progress('done'));
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
    const rejects = run.onInvalid === 'reject' ? yield* RejectWriter.open(run.rejectPath, run.path) : undefined;
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
    // Beginning a truncate import waits (up to the lock timeout) for the tables' lock: a signal meanwhile is
    // named as what it interrupted, not as the dataset read it would otherwise stop next.
    if (run.signal?.aborted) {
      await session.abort();
      return err(interruptedBeginning(run));
    }
    const done = await settled(fillAndCommit(pass, session));
    if (!state.committed) await session.abort();
    return done;
  });
}

/** `ABORTED` for a signal that fired while the session began: nothing was read or changed. */
function interruptedBeginning(run: Pass['run']): BackfillError {
  const tables = run.specs.map((s) => s.table).join(', ');
  const what = run.strategy === 'truncate' ? `waiting for the lock on ${tables}` : `preparing the fresh tables for ${tables}`;
  return new BackfillError('ABORTED', `The import was interrupted while ${what}; nothing was changed and the tables keep their contents.`);
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
    run.onProgress(state.progress('commit'));
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
async function loadMembers(pass: Pass, session: StagingSession, ds: Dataset<string>): Promise<Result<ReadonlySet<string>, BackfillError>> {
  const { run, state } = pass;
  const bySpec = new Map(run.specs.map((s) => [s.member, s]));
  const seen = new Set<string>();
  const loads: Promise<void>[] = [];
  let failure: BackfillError | undefined;
  try {
    for await (const member of ds) {
      const spec = bySpec.get(member.name);
      if (spec === undefined) {
        skipMember(member);
        continue;
      }
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
function rowRejecter(pass: Pass, member: string, table: TableCounts): StagingRowReject | undefined {
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
async function* memberBatches(pass: Pass, member: DatasetMember, spec: MemberSpec, table: TableCounts): AsyncGenerator<StagingRow[]> {
  const { run, state, rejects } = pass;
  const { idField, maxIdBytes, batchBytes, progressEveryRows } = run;
  const name = member.name;
  const skipped = pass.skip.get(name);
  const anchors = duplicateAnchors(skipped);
  const where = { member: name, table: spec.table };
  const progress = (): void => run.onProgress(state.progress('load', where));
  let nextProgress = state.rows + progressEveryRows;
  let batch: StagingRow[] = [];
  let size = 0;
  progress();
  // Failing, the reader stops at a line it cannot hand over (an over-long one as soon as it passes the limit).
  const batches: AsyncIterable<(DatasetLine | UnreadableLine)[]> =
    rejects === undefined ? member.lineBatches() : checkedLineBatches(member);
  // One await per decompressed chunk of lines, not per line.
  for await (const lines of batches) {
    // Another table's load failed: stop reading, the import fails with that.
    if (state.loadFailure !== undefined) return;
    for (const entry of lines) {
      const { line } = entry;
      const raw = 'error' in entry ? entry.text : entry.raw;
      state.rawChars += raw.length;
      let verdict: LineVerdict = checkEntry(entry, name, idField, maxIdBytes);
      const anchor = anchors.get(line);
      if (anchor !== undefined) {
        if (!('id' in verdict) || (await run.idKey({ id: verdict.id, raw, line })) !== anchor.key)
          throw fileChangedError(name, line, anchor.id);
        const dup = skipped?.get(line);
        if (dup !== undefined)
          verdict = { code: 'DUPLICATE_ID', error: new BackfillError('DUPLICATE_ID', dup.reason, { context: { member: name, line } }) };
      }
      if (!('id' in verdict)) {
        if (rejects === undefined) throw verdict.error;
        await rejects.write({ member: name, line, code: verdict.code, reason: verdict.error.message, raw, ...unreadableFields(entry) });
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

/**
 * What a reject entry adds for a line the reader could not hand over: a
 * truncated line's whole length, and the exact bytes of a line (or of the
 * first bytes kept) that are not UTF-8, which `raw` shows with U+FFFD.
 */
function unreadableFields(entry: DatasetLine | UnreadableLine): Pick<RejectEntry, 'truncated' | 'bytes' | 'rawBase64'> {
  if (!('error' in entry)) return {};
  return {
    ...(entry.truncated ? { truncated: true, bytes: entry.length } : {}),
    ...(isUtf8(entry.bytes) ? {} : { rawBase64: entry.bytes.toString('base64') }),
  };
}

/** Before commit: the tarball's digest, each member against the manifest, and each table's count inside the session. */
function verify(pass: Pass, session: StagingSession, ds: Dataset<string>, seen: ReadonlySet<string>): ResultAsync<void, BackfillError> {
  const { run, state } = pass;
  return safeTry(async function* () {
    const stats = yield* ds.stats();
    const manifest = yield* ds.manifest();
    state.stats = stats;
    state.manifest = manifest;
    run.onProgress(state.progress('verify'));
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
