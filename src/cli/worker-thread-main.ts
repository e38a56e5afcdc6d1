/**
 * The body of one extra worker of `statements backfill --workers N`, in a
 * worker thread of the CLI process (started by worker-thread.ts):
 * `runBackfillWorker` with `untilDone` for the run. Its log lines and its
 * outcome go to the CLI's thread as messages; a `stop` message stops it as
 * SIGTERM stops a worker process.
 *
 * @module
 */
import module from 'node:module';
import { parentPort, workerData } from 'node:worker_threads';
import type { DistributedBackfillConfig } from '../statements/distributed.js';

module.enableCompileCache?.();
const { runBackfillWorker } = await import('../statements/distributed.js');

/** What the CLI's thread hands a worker thread. */
export interface WorkerThreadData {
  /** The run's configuration, less what cannot cross to a thread (the logger, normalizers: the thread uses the defaults). */
  readonly cluster: Omit<DistributedBackfillConfig, 'logger' | 'normalizers'>;
  readonly runId: string;
  readonly reconnectSeconds?: number;
}

/** Messages from a worker thread: a log line, or its outcome (null when it worked to the end). */
export type WorkerThreadMessage =
  | { readonly log: 'debug' | 'info' | 'warn' | 'error'; readonly message: string; readonly fields?: Record<string, unknown> }
  | { readonly done: string | null };

const port = parentPort;
if (port === null) throw new Error('worker-thread-main.js runs in a worker thread of the CLI');
const data = workerData as WorkerThreadData;
const post = (m: WorkerThreadMessage): void => port.postMessage(m);
const stop = new AbortController();
port.on('message', (m: unknown) => {
  if (m === 'stop') stop.abort();
});
const logTo =
  (log: 'debug' | 'info' | 'warn' | 'error') =>
  (message: string, fields?: Record<string, unknown>): void =>
    post({ log, message, ...(fields === undefined ? {} : { fields }) });
const done = await runBackfillWorker(
  { ...data.cluster, logger: { debug: logTo('debug'), info: logTo('info'), warn: logTo('warn'), error: logTo('error') } },
  {
    untilDone: true,
    runId: data.runId,
    signal: stop.signal,
    ...(data.reconnectSeconds === undefined ? {} : { reconnectSeconds: data.reconnectSeconds }),
  },
);
post({ done: done.isOk() ? null : done.error.code });
// The port would keep the thread alive.
port.close();
