/**
 * The job engine under the distributed statement backfill: pg-boss, in the
 * same PostgreSQL. One queue per plan store; one job per key range, keyed so
 * that a range never has two jobs queued or running at once.
 *
 * @module
 */
import { PgBoss, type Job } from 'pg-boss';
import { okAsync, ResultAsync } from 'neverthrow';
import type { BackfillError } from '../errors.js';
import { pgConnectionSettings, pgErrorToBackfill, type PgConnectOptions } from '../_internals/pg.js';
import { quoteIdent } from '../_internals/sql-identifier.js';
import {
  countPendingJobs,
  countPendingJobsByRun,
  releaseClaimedJob,
  selectPendingRunsOfOtherQueues,
  selectRunHasJobs,
  selectRunsTableCandidates,
  type SqlStatement,
  unlimitedJobTime,
} from './sql.js';

/** Runs with jobs pending in another statement range queue of the jobs schema: runs planned with another runs table. */
export interface OtherQueueRuns {
  /** pg-boss's name of the queue. */
  readonly queue: string;
  /** The runs table of this database the queue is named after (`schema.table`), or null when none is. */
  readonly runsTable: string | null;
  /** Runs with jobs pending in it (at most 10). */
  readonly runIds: readonly string[];
}

/** What a range job carries. */
export interface RangeJob {
  readonly runId: string;
  readonly n: number;
}

/** A job this process claimed, until it settles it. */
export interface HeldJob {
  readonly job: RangeJob;
  /** Marks the job done. */
  complete(): ResultAsync<void, BackfillError>;
  /** Hands the job back to the engine, which retries it with backoff (on any host). */
  fail(error: unknown): ResultAsync<void, BackfillError>;
  /**
   * Hands the job back untried (the worker stops): any worker may take it
   * at once, and it spends none of its retries. With `behindOthers`, jobs
   * of the default priority are handed out before it.
   */
  release(behindOthers?: boolean): ResultAsync<void, BackfillError>;
}

/** How jobs are leased and retried. */
export interface JobQueueOptions extends PgConnectOptions {
  /** @defaultValue `pgboss` */
  readonly schema?: string;
  /** Names the queue (the plan store's runs table). */
  readonly queue: string;
  /**
   * A job whose worker stops sending heartbeats for this long is handed to
   * another worker (pg-boss's minimum is 10). Set on each job this queue
   * enqueues (the queue keeps the value it was first created with); a
   * worker keeps each job alive at that job's own heartbeat.
   * @defaultValue 10
   */
  readonly heartbeatSeconds?: number;
}

/**
 * pg-boss's errors are the driver's: one classifier with the rest of the
 * kit, so a lost connection (refused, reset, shutting down, recovering) is
 * `DB_CONNECTION`, which a worker waits out, and a rejected statement
 * `DB_ERROR`.
 */
const toError = (e: unknown): BackfillError => pgErrorToBackfill(e, {}, 'job engine (pg-boss)');

/**
 * How often a failed range attempt is retried: 20 retries, 1 s apart
 * doubling up to 30 s, so a range fails for good (and its run is `failed`)
 * about 8 minutes after its first failure. That rides out a database
 * failover or restart and the odd killed worker (whose job counts an
 * attempt when its heartbeat stops); a range that fails for a lasting
 * cause shows as retrying in the run's progress meanwhile.
 */
const RANGE_RETRIES = { retryLimit: 20, retryDelay: 1, retryBackoff: true, retryDelayMax: 30 } as const;

/**
 * pg-boss's name of the queue named after `queue`, a quoted table name
 * (pg-boss queue names allow letters, digits, _ . - / only). One name per
 * table: quotes become `_` (they only ever wrap each part), and `$`, the
 * one other character a table name can hold, becomes `-`, which none can,
 * so `runs$x` and `runs_x` get queues of their own.
 */
export function rangeQueueName(queue: string): string {
  return `backfill-kit/statements/${queue.replaceAll('$', '-').replace(/[^\w.-]/g, '_')}`;
}

/**
 * The runs with jobs pending in the range queues of jobs schema `schema`
 * other than pg-boss queue `queue` (of run `runId` only, unless `null`),
 * each queue with the runs table of this database its name is made from
 * by {@link rangeQueueName}, or null when no table is.
 */
export async function pendingRunsOfOtherQueues(
  execute: (statement: SqlStatement) => Promise<{ rows: unknown[] }>,
  schema: string,
  queue: string,
  runId: string | null,
): Promise<OtherQueueRuns[]> {
  const pending = (await execute(selectPendingRunsOfOtherQueues(schema, queue, rangeQueueName(''), runId))).rows as Omit<
    OtherQueueRuns,
    'runsTable'
  >[];
  if (pending.length === 0) return [];
  const tables = (await execute(selectRunsTableCandidates())).rows as { schema: string; name: string }[];
  const tableOf = new Map(tables.map((t) => [rangeQueueName(`${quoteIdent(t.schema)}.${quoteIdent(t.name)}`), `${t.schema}.${t.name}`]));
  return pending.map((p) => ({ ...p, runsTable: tableOf.get(p.queue) ?? null }));
}

/** A started pg-boss instance bound to one queue. */
export class RangeJobQueue {
  readonly #boss: PgBoss;
  readonly #schema: string;
  readonly #queue: string;
  readonly #heartbeatSeconds: number;

  private constructor(boss: PgBoss, schema: string, queue: string, heartbeatSeconds: number) {
    this.#boss = boss;
    this.#schema = schema;
    this.#queue = queue;
    this.#heartbeatSeconds = heartbeatSeconds;
  }

  /** The schema of pg-boss's tables. */
  get schema(): string {
    return this.#schema;
  }

  /** Connects, installs pg-boss's schema if needed and creates the queue. */
  static open(options: JobQueueOptions): ResultAsync<RangeJobQueue, BackfillError> {
    const schema = options.schema ?? 'pgboss';
    const heartbeatSeconds = options.heartbeatSeconds ?? 10;
    const queue = rangeQueueName(options.queue);
    return ResultAsync.fromPromise(
      (async () => {
        const boss = new PgBoss({
          // Before the connection's settings, which name the application over it when the URL does (as the driver reads a URL).
          application_name: 'backfill-kit jobs',
          ...pgConnectionSettings(options),
          // pg-boss's own connect limit (10 s unless given) is its pool's: it also bounds a wait for a busy pool's client.
          ...(options.connectTimeoutMs === undefined ? {} : { connectionTimeoutMillis: options.connectTimeoutMs }),
          schema,
          max: 3,
          superviseIntervalSeconds: 2,
          monitorIntervalSeconds: 2,
          // No cron schedules here: skips the timekeeper's start-up and its polling.
          schedule: false,
        });
        // pg-boss reports background errors as events; without a listener they would crash the process.
        boss.on('error', () => undefined);
        try {
          await boss.start();
          await boss.createQueue(queue, { policy: 'exclusive', heartbeatSeconds, ...RANGE_RETRIES, expireInSeconds: 24 * 3600 });
          // Past pg-boss's 24 h: a range still running with heartbeats is never failed for its time alone.
          const unlimited = unlimitedJobTime(schema, queue);
          await boss.getDb().executeSql(unlimited.text, [...unlimited.values]);
        } catch (error) {
          // A start that failed half way (the database went away) must not leave pg-boss's pool and timers behind.
          await boss.stop({ graceful: false, close: true }).catch(() => undefined);
          throw error;
        }
        return new RangeJobQueue(boss, schema, queue, heartbeatSeconds);
      })(),
      toError,
    );
  }

  /**
   * Enqueues the ranges that have no job queued or running, in one
   * statement (the queue policy drops the others; the queue's retry
   * settings apply, and this queue's heartbeat).
   */
  enqueue(jobs: readonly RangeJob[]): ResultAsync<void, BackfillError> {
    if (jobs.length === 0) return okAsync(undefined);
    return ResultAsync.fromPromise(
      this.#boss.insert(
        this.#queue,
        jobs.map((job) => ({ data: { ...job }, singletonKey: `${job.n}:${job.runId}`, heartbeatSeconds: this.#heartbeatSeconds })),
      ),
      toError,
    ).map(() => undefined);
  }

  /**
   * Claims the next job, if one is ready; heartbeats keep it this
   * process's until it is settled. The caller drives its own loop (rather
   * than pg-boss's `work()`), so it can claim its next job while the
   * current one still finishes, and read ahead for it.
   */
  take(): ResultAsync<HeldJob | null, BackfillError> {
    return ResultAsync.fromPromise(this.#boss.fetch<RangeJob>(this.#queue, { batchSize: 1 }), toError).map(([job]) =>
      job === undefined ? null : this.#hold(job),
    );
  }

  #hold(job: Job<RangeJob>): HeldJob {
    const attempt = { id: job.id, retryCount: job.retryCount };
    // The job's own heartbeat, not this worker's: pg-boss expires the job by the one it was enqueued with.
    const refreshMs = Math.max(1, Math.floor((job.heartbeatSeconds ?? this.#heartbeatSeconds) / 3)) * 1000;
    // A heartbeat that fails says nothing about the claim: the next one tries again.
    const heartbeat = setInterval(() => void this.#boss.touch(this.#queue, attempt).catch(() => undefined), refreshMs);
    const settle = (done: () => Promise<unknown>): ResultAsync<void, BackfillError> => {
      clearInterval(heartbeat);
      return ResultAsync.fromPromise(done(), toError).map(() => undefined);
    };
    return {
      job: job.data,
      complete: () => settle(() => this.#boss.complete(this.#queue, attempt)),
      fail: (error) =>
        settle(() => this.#boss.fail(this.#queue, attempt, { message: error instanceof Error ? error.message : String(error) })),
      release: (behindOthers) =>
        settle(() => this.#executeSql(releaseClaimedJob(this.#schema, this.#queue, attempt.id, attempt.retryCount, behindOthers))),
    };
  }

  /** Runs one of this module's statements on pg-boss's pool. */
  #executeSql({ text, values }: SqlStatement): Promise<{ rows: unknown[] }> {
    return this.#boss.getDb().executeSql(text, [...values]);
  }

  /** Jobs of this queue (of run `runId`, unless `null`) still queued, waiting for a retry, or running (on any host). */
  pending(runId: string | null): ResultAsync<number, BackfillError> {
    return ResultAsync.fromPromise(
      this.#executeSql(countPendingJobs(this.#schema, this.#queue, runId)).then((r) =>
        Number((r.rows[0] as { n: number } | undefined)?.n ?? 0),
      ),
      toError,
    );
  }

  /** Jobs of this queue still queued, waiting for a retry, or running (on any host), by run (`null`: a job naming none). */
  pendingByRun(): ResultAsync<ReadonlyMap<string | null, number>, BackfillError> {
    return ResultAsync.fromPromise(
      this.#executeSql(countPendingJobsByRun(this.#schema, this.#queue)).then(
        (r) => new Map((r.rows as { runId: string | null; n: number }[]).map(({ runId, n }) => [runId, Number(n)])),
      ),
      toError,
    );
  }

  /**
   * The runs with jobs still queued, waiting for a retry or running in the
   * other statement range queues of this jobs schema (at most 5 queues):
   * runs planned with another runs table, which this queue never gets.
   */
  pendingElsewhere(): ResultAsync<readonly OtherQueueRuns[], BackfillError> {
    return ResultAsync.fromPromise(
      pendingRunsOfOtherQueues((statement) => this.#executeSql(statement), this.#schema, this.#queue, null),
      toError,
    );
  }

  /** Whether any job of `runId` (of any run, when `null`) was enqueued and is still kept (in any state since). */
  hasJobsOf(runId: string | null): ResultAsync<boolean, BackfillError> {
    return ResultAsync.fromPromise(
      this.#executeSql(selectRunHasJobs(this.#schema, this.#queue, runId)).then(
        (r) => (r.rows[0] as { found: boolean } | undefined)?.found === true,
      ),
      toError,
    );
  }

  /** Stops pg-boss (its supervision and timers) and ends its pool. */
  close(graceful = true): ResultAsync<void, BackfillError> {
    return ResultAsync.fromPromise(this.#boss.stop({ graceful, close: true, timeout: 30_000 }), toError);
  }
}
