/**
 * Starts the extra workers of `statements backfill --workers N` as worker
 * threads of the CLI process (their body is worker-thread-main.ts): each
 * is `runBackfillWorker` with `untilDone` for the run, as a
 * `statements worker --until-done --run-id` process would be, without a
 * process to boot. A thread that dies (or is terminated) mid-range loses
 * nothing: its job's heartbeats stop, the job engine hands the range to
 * the other workers, and the range resumes from its checkpoint.
 *
 * @module
 */
import { Worker } from 'node:worker_threads';
import { silentLogger } from '../_internals/logger.js';
import type { BackfillErrorCode } from '../errors.js';
import type { DistributedBackfillConfig } from '../statements/distributed.js';
import { exitCodeForError } from './exit-codes.js';
import type { WorkerThreadData, WorkerThreadMessage } from './worker-thread-main.js';

/** What the worker thread is asked for. */
export interface WorkerThreadOptions {
  /** The run whose jobs it waits for and works until the queue is done. */
  readonly runId: string;
  /** Stops it as SIGTERM stops a worker process: between batches, its running range's job retried. */
  readonly signal: AbortSignal;
  readonly reconnectSeconds?: number;
}

/** A started worker thread. */
export interface StartedWorkerThread {
  /**
   * Resolves once the thread has ended: 0 when it worked to the end, the
   * exit status of its error (as `statements worker` would exit), or null
   * when it died or was terminated.
   */
  readonly ended: Promise<number | null>;
  /** Stops the thread at once, mid-range (as SIGKILL stops a worker process). */
  terminate(): Promise<void>;
}

/**
 * Starts one worker thread for the run. From TypeScript sources (tests) it
 * needs tsx's loader, which a CLI run through tsx already has in its
 * `execArgv` (threads inherit it).
 */
export function startWorkerThread(cluster: DistributedBackfillConfig, options: WorkerThreadOptions): StartedWorkerThread {
  const fromSources = import.meta.url.endsWith('.ts');
  const entry = new URL(fromSources ? './worker-thread-main.ts' : './worker-thread-main.js', import.meta.url);
  const loader = fromSources && !process.execArgv.some((a) => a.includes('tsx'));
  // What cannot cross to a thread stays here: the logger (its lines come back as messages) and custom normalizers.
  const { logger = silentLogger, normalizers: _normalizers, ...cloneable } = cluster;
  const data: WorkerThreadData = {
    cluster: cloneable,
    runId: options.runId,
    ...(options.reconnectSeconds === undefined ? {} : { reconnectSeconds: options.reconnectSeconds }),
  };
  // Node's options are inherited (V8's, such as --max-old-space-size, hold for the whole process and may not be given again).
  const thread = new Worker(entry, { workerData: data, ...(loader ? { execArgv: ['--import', 'tsx'] } : {}) });
  const onAbort = (): void => thread.postMessage('stop');
  if (options.signal.aborted) onAbort();
  else options.signal.addEventListener('abort', onAbort, { once: true });
  let outcome: number | null = null;
  thread.on('message', (m: WorkerThreadMessage) => {
    if ('done' in m) outcome = m.done === null ? 0 : exitCodeForError(m.done as BackfillErrorCode);
    else logger[m.log]?.(m.message, m.fields);
  });
  thread.on('error', (e) => logger.warn(`a worker thread died: ${e instanceof Error ? e.message : String(e)}`));
  const ended = new Promise<number | null>((resolve) => {
    thread.once('exit', () => {
      options.signal.removeEventListener('abort', onAbort);
      resolve(outcome);
    });
  });
  return {
    ended,
    async terminate() {
      await thread.terminate();
    },
  };
}
