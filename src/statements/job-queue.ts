/**
 * The job engine under the distributed statement backfill: pg-boss, in the
 * same PostgreSQL. One queue per plan store; one job per key range, keyed so
 * that a range never has two jobs queued or running at once.
 *
 * @module
 */
import { PgBoss } from 'pg-boss';
import { okAsync, ResultAsync } from 'neverthrow';
import { BackfillError } from '../errors.js';
import { countPendingJobs } from './sql.js';

/** What a range job carries. */
export interface RangeJob {
  readonly runId: string;
  readonly n: number;
}

/** How jobs are leased and retried. */
export interface JobQueueOptions {
  readonly connectionString: string;
  /** @defaultValue `pgboss` */
  readonly schema?: string;
  /** Names the queue (the plan store's runs table). */
  readonly queue: string;
  /**
   * A job whose worker stops sending heartbeats for this long is handed to
   * another worker (pg-boss's minimum is 10).
   * @defaultValue 10
   */
  readonly heartbeatSeconds?: number;
}

const toError = (e: unknown): BackfillError =>
  e instanceof BackfillError
    ? e
    : new BackfillError('DB_ERROR', `job engine (pg-boss): ${e instanceof Error ? e.message : String(e)}`, { cause: e });

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

  /** Connects, installs pg-boss's schema if needed and creates the queue. */
  static open(options: JobQueueOptions): ResultAsync<RangeJobQueue, BackfillError> {
    const schema = options.schema ?? 'pgboss';
    const heartbeatSeconds = options.heartbeatSeconds ?? 10;
    // pg-boss queue names allow letters, digits, _ . - / only.
    const queue = `backfill-kit/statements/${options.queue.replace(/[^\w.-]/g, '_')}`;
    return ResultAsync.fromPromise(
      (async () => {
        const boss = new PgBoss({
          connectionString: options.connectionString,
          schema,
          max: 3,
          superviseIntervalSeconds: 2,
          monitorIntervalSeconds: 2,
          application_name: 'backfill-kit jobs',
          // No cron schedules here: skips the timekeeper's start-up and its polling.
          schedule: false,
        });
        // pg-boss reports background errors as events; without a listener they would crash the process.
        boss.on('error', () => undefined);
        await boss.start();
        await boss.createQueue(queue, {
          policy: 'exclusive',
          heartbeatSeconds,
          retryLimit: 20,
          retryDelay: 1,
          retryBackoff: true,
          retryDelayMax: 30,
          expireInSeconds: 24 * 3600,
        });
        return new RangeJobQueue(boss, schema, queue, heartbeatSeconds);
      })(),
      toError,
    );
  }

  /**
   * Enqueues the ranges that have no job queued or running, in one
   * statement (the queue policy drops the others; the queue's retry and
   * heartbeat settings apply).
   */
  enqueue(jobs: readonly RangeJob[]): ResultAsync<void, BackfillError> {
    if (jobs.length === 0) return okAsync(undefined);
    return ResultAsync.fromPromise(
      this.#boss.insert(
        this.#queue,
        jobs.map((job) => ({ data: { ...job }, singletonKey: `${job.n}:${job.runId}` })),
      ),
      toError,
    ).map(() => undefined);
  }

  /**
   * Runs `handler` for each job, `concurrency` at a time. A handler that
   * throws fails its job, which the engine retries with backoff.
   *
   * One pg-boss worker per slot, each woken as soon as its job is settled:
   * pg-boss otherwise waits its polling interval (at least 0.5 s) after
   * every job shorter than that before it fetches the next. It still waits
   * that interval after a fetch that found nothing.
   */
  work(concurrency: number, handler: (job: RangeJob) => Promise<void>): ResultAsync<void, BackfillError> {
    const slot = async (): Promise<void> => {
      // The worker's id, known once work() returns (its first fetch is a round trip later).
      let self: string | undefined;
      self = await this.#boss.work<RangeJob>(
        this.#queue,
        {
          batchSize: 1,
          pollingIntervalSeconds: 0.5,
          heartbeatRefreshSeconds: Math.max(1, Math.floor(this.#heartbeatSeconds / 3)),
        },
        async ([job]) => {
          try {
            if (job !== undefined) await handler(job.data);
          } finally {
            if (self !== undefined) this.#boss.notifyWorker(self);
          }
        },
      );
    };
    return ResultAsync.fromPromise(
      (async () => {
        for (let i = 0; i < concurrency; i += 1) await slot();
      })(),
      toError,
    );
  }

  /** Jobs of this queue still queued, waiting for a retry, or running (on any host). */
  pending(): ResultAsync<number, BackfillError> {
    const { text, values } = countPendingJobs(this.#schema, this.#queue);
    return ResultAsync.fromPromise(
      this.#boss
        .getDb()
        .executeSql(text, [...values])
        .then((r) => Number((r.rows[0] as { n: number } | undefined)?.n ?? 0)),
      toError,
    );
  }

  /** Stops this process's workers of the queue and waits for their running handlers. */
  stopWork(): ResultAsync<void, BackfillError> {
    return ResultAsync.fromPromise(this.#boss.offWork(this.#queue, { wait: true }), toError);
  }

  /** Stops fetching; waits for running handlers when `graceful`. */
  close(graceful = true): ResultAsync<void, BackfillError> {
    return ResultAsync.fromPromise(this.#boss.stop({ graceful, close: true, timeout: 30_000 }), toError);
  }
}
