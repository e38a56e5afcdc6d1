/**
 * One holder per run id: a session-level PostgreSQL advisory lock, held on
 * its own connection for as long as the run goes on. A process that dies
 * (even by SIGKILL) loses its connection, and PostgreSQL frees the lock with
 * it, so no lease has to expire before the run can be resumed.
 *
 * @module
 */
import { ResultAsync } from 'neverthrow';
import { BackfillError } from '../errors.js';
import { pgErrorToBackfill, type PgClientLike, type PgHandle } from '../_internals/pg.js';
import type { RunLock } from './ports.js';

interface HolderRow {
  pid: number;
  application_name: string | null;
  client_addr: string | null;
  client_hostname: string | null;
  backend_start: Date | null;
}

/**
 * The two 32-bit keys of a run's lock: the checkpoints table (so two stores
 * in one database never block each other) and the run id.
 */
const KEYS = 'hashtext($1), hashtext($2)';

/** Who holds the lock `(namespace, runId)`, from pg_locks and pg_stat_activity. */
async function holderOf(c: PgClientLike, namespace: string, runId: string): Promise<HolderRow | undefined> {
  const found = (await c.query(
    `SELECT a.pid, a.application_name, host(a.client_addr) AS client_addr, a.client_hostname, a.backend_start
       FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
      WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 2
        AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
        AND l.classid::bigint = (hashtext($1)::bigint & 4294967295)
        AND l.objid::bigint = (hashtext($2)::bigint & 4294967295)`,
    [namespace, runId],
  )) as { rows: HolderRow[] };
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

/**
 * Takes the lock of `runId` on a connection of its own, or fails with
 * `LOCKED` naming the session that holds it.
 *
 * @param pg - where to take a connection from; it stays checked out until `release()`
 * @param namespace - what the run id is unique within (the checkpoints table)
 */
export function lockPgRun(pg: PgHandle, namespace: string, runId: string): ResultAsync<RunLock, BackfillError> {
  let letGo: () => void = () => undefined;
  const released = new Promise<void>((resolve) => (letGo = resolve));
  let acquired: (lock: RunLock) => void = () => undefined;
  const lock = new Promise<RunLock>((resolve) => (acquired = resolve));
  // The session keeps its connection checked out until release() (or until it fails).
  const session = pg.withClient(async (c) => {
    const got = (await c.query(`SELECT pg_try_advisory_lock(${KEYS}) AS ok`, [namespace, runId])) as { rows: { ok: boolean }[] };
    if (got.rows[0]?.ok !== true) {
      const holder = await holderOf(c, namespace, runId);
      throw new BackfillError(
        'LOCKED',
        `run ${JSON.stringify(runId)} is already running, held by ${describeHolder(holder)}. Wait for that process to finish (or stop it), then rerun with the same run id to resume.`,
        {
          context: {
            runId,
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
    acquired({
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
    await c.query(`SELECT pg_advisory_unlock(${KEYS})`, [namespace, runId]);
  });
  const refused = session.then((): never => {
    throw new Error('the run lock session ended before the lock was taken');
  });
  return ResultAsync.fromPromise(Promise.race([lock, refused]), (e) => pgErrorToBackfill(e, { runId }));
}
