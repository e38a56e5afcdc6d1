/**
 * One holder per run id: a session-level PostgreSQL advisory lock, held on
 * its own connection for as long as the run goes on. A process that dies
 * (even by SIGKILL) loses its connection, and PostgreSQL frees the lock with
 * it, so no lease has to expire before the run can be resumed.
 *
 * @module
 */
import { err, errAsync, ok, okAsync, ResultAsync, type Result } from 'neverthrow';
import { BackfillError } from '../errors.js';
import { inTransaction, pgErrorToBackfill, type PgClientLike, type PgHandle } from '../_internals/pg.js';
import type { RunLock } from './ports.js';
import {
  lockRunCommit,
  RUN_COMMIT_WAIT_MS,
  releaseRunLock,
  runCommitNamespace,
  selectRunLockHolder,
  setRunCommitWait,
  tryRunLock,
} from './sql.js';

interface HolderRow {
  pid: number;
  application_name: string | null;
  client_addr: string | null;
  client_hostname: string | null;
  backend_start: Date | null;
}

/** Who holds the lock `(namespace, runId)`. */
async function holderOf(c: PgClientLike, namespace: string, runId: string): Promise<HolderRow | undefined> {
  const found = (await c.query(selectRunLockHolder(namespace, runId))) as { rows: HolderRow[] };
  return found.rows[0];
}

function describeHolder(h: HolderRow | undefined): string {
  if (h === undefined) return 'another session (it let go while we looked; try again)';
  const parts = [`backend pid ${h.pid}`, `application_name ${JSON.stringify(h.application_name ?? '')}`];
  const host = h.client_hostname ?? h.client_addr;
  parts.push(host === null ? 'host: local socket' : `host ${host}`);
  if (h.backend_start) parts.push(`connected since ${h.backend_start.toISOString()}`);
  return parts.join(', ');
}

/** The refusal of a second holder, naming the first. */
function lockedBy(runId: string, holder: HolderRow | undefined): BackfillError {
  return new BackfillError(
    'LOCKED',
    `run ${JSON.stringify(runId)} is already running, held by ${describeHolder(holder)}. Wait for that process to finish (or stop it), then rerun with the same run id to resume.`,
    {
      context: {
        runId,
        // Said as the message says it, for refusals that word the conflict their own way (a plan of a running run id).
        holder: describeHolder(holder),
        ...(holder === undefined
          ? {}
          : {
              holderPid: holder.pid,
              holderApplicationName: holder.application_name,
              holderHost: holder.client_hostname ?? holder.client_addr,
            }),
      },
    },
  );
}

/**
 * Waits, holding the run lock, until no batch of the run is between its lock
 * check and its commit: a previous holder whose lock connection was cut off
 * just after its batch's check still commits that batch, and the checkpoint
 * read next must include it (else the late commit would overwrite what this
 * holder writes). `LOCKED` after `waitMs`.
 */
async function awaitPreviousCommit(
  c: PgClientLike,
  namespace: string,
  runId: string,
  waitMs: number,
): Promise<Result<void, BackfillError>> {
  try {
    await inTransaction(c, async () => {
      await c.query(setRunCommitWait(waitMs));
      await c.query(lockRunCommit(namespace, runId));
    });
    return ok(undefined);
  } catch (error) {
    if ((error as { code?: unknown } | null)?.code !== '55P03') throw error;
    const holder = describeHolder(await holderOf(c, runCommitNamespace(namespace), runId));
    return err(
      new BackfillError(
        'LOCKED',
        `run ${JSON.stringify(runId)} was taken over from a process whose run lock was lost, and that process is still committing a batch of the run after ${waitMs / 1000} s (${holder}). Stop that process (or end that backend with pg_terminate_backend), then rerun with the same run id to resume.`,
        { context: { runId, holder } },
      ),
    );
  }
}

/** The PostgreSQL session that took a run lock: its backend pid and when that backend started (a pid alone may be reused). */
export interface PgLockSession {
  readonly pid: number;
  /** `backend_start` as seconds since the epoch, exact, as PostgreSQL prints it; null when the role cannot read it. */
  readonly started: string | null;
}

/** A run lock held by a PostgreSQL session, which a commit checks still holds it. */
export interface PgRunLock extends RunLock {
  readonly session: PgLockSession;
}

/**
 * Takes the lock of `runId` on a connection of its own, or fails with
 * `LOCKED` naming the session that holds it.
 *
 * @param pg - where to take a connection from; it stays checked out until `release()`
 * @param namespace - what the run id is unique within (the checkpoints table)
 * @param commitWaitMs - how long to wait, once the lock is taken, for a
 *   batch of the run's previous holder to commit (see `awaitPreviousCommit`)
 *   before giving up with `LOCKED` (default {@link RUN_COMMIT_WAIT_MS}, 60 s)
 */
export function lockPgRun(
  pg: PgHandle,
  namespace: string,
  runId: string,
  commitWaitMs: number = RUN_COMMIT_WAIT_MS,
): ResultAsync<PgRunLock, BackfillError> {
  let letGo: () => void = () => undefined;
  const released = new Promise<void>((resolve) => (letGo = resolve));
  let acquired: (lock: PgRunLock) => void = () => undefined;
  const lock = new Promise<Result<PgRunLock, BackfillError>>((resolve) => (acquired = (taken) => resolve(ok(taken))));
  // The session keeps its connection checked out until release() (or until it fails).
  const session = pg.withClient(async (c): Promise<Result<void, BackfillError>> => {
    const got = (await c.query(tryRunLock(namespace, runId))) as { rows: { ok: boolean; pid: number; started: string | null }[] };
    const held = got.rows[0];
    if (held?.ok !== true) return err(lockedBy(runId, await holderOf(c, namespace, runId)));
    const waited = await awaitPreviousCommit(c, namespace, runId, commitWaitMs);
    if (waited.isErr()) {
      await c.query(releaseRunLock(namespace, runId));
      return waited;
    }
    acquired({
      session: { pid: held.pid, started: held.started },
      release: () => {
        letGo();
        // A connection lost meanwhile took the lock with it: nothing left to give back.
        return session.then(
          () => undefined,
          () => undefined,
        );
      },
    });
    await released;
    await c.query(releaseRunLock(namespace, runId));
    return ok(undefined);
  });
  // The session ends before the lock is taken only when it was refused; a lost connection rejects it.
  const refused = session.then((ended) =>
    ended.andThen(() =>
      err(new BackfillError('DB_CONNECTION', 'the run lock session ended before the lock was taken', { context: { runId } })),
    ),
  );
  return ResultAsync.fromPromise(Promise.race([lock, refused]), (e) => pgErrorToBackfill(e, { runId })).andThen((r) => r);
}

/**
 * Takes `lock`, then runs `check` under it: a check that fails gives the
 * lock back. Whoever takes a run id checks for the other modes' state under
 * the run lock, so the checks (and what each does next) never interleave.
 */
export function lockThenCheck<L extends RunLock>(
  lock: ResultAsync<L, BackfillError>,
  check: () => ResultAsync<void, BackfillError>,
): ResultAsync<L, BackfillError> {
  return lock.andThen((held) =>
    check()
      .map(() => held)
      .orElse((refused) => ResultAsync.fromSafePromise(held.release()).andThen(() => err(refused))),
  );
}

/**
 * A single-process run's refusal of a planned run's id (`planned` says how
 * it is known to be one): it would neither resume nor report that run, and
 * would skip what the run's ranges wrote. Checked under the run lock; a
 * table not created yet holds no plan.
 */
export function refusePlannedRun<T>(
  runId: string,
  lookup: ResultAsync<T | null, BackfillError>,
  planned: (found: T) => string,
): ResultAsync<void, BackfillError> {
  return lookup
    .orElse((e) => (e.code === 'TABLE_NOT_FOUND' ? okAsync(null) : errAsync(e)))
    .andThen((found) =>
      found === null
        ? okAsync(undefined)
        : errAsync(
            new BackfillError(
              'INVALID_ARGUMENT',
              `run ${runId} is a planned run (${planned(found)}); work it with statements worker or statements backfill --workers N, see it with statements report --run-id ${runId}, or use another run id.`,
              { context: { runId, plannedBy: planned(found) } },
            ),
          ),
    );
}
