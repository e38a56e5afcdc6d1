/**
 * Normalizing raw documents on several threads: parsing and normalizing
 * large VEX documents is the CPU-bound part of a statement backfill, and
 * it is the only part that needs no database, so worker threads do it
 * while the backfill's own thread reads pages, commits batches and
 * normalizes too.
 *
 * @module
 */
import { Worker } from 'node:worker_threads';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { err, ok, type Result } from 'neverthrow';
import { BackfillError, type BackfillErrorCode } from '../errors.js';
import { loggerOf, silentLogger, type Logger } from '../_internals/logger.js';
import { workerModuleUrl } from '../_internals/worker-url.js';
import { DEFAULT_MAX_CLAIM_BYTES_PER_DOCUMENT, defaultVexNormalizers } from './defaults.js';
import { normalizeDocument, type NormalizableDocument, type NormalizedDocument } from './normalize.js';
import type { VexNormalizer } from './ports.js';

/** A chunk of documents sent to a normalizer thread, with its flag in the shared {@link ThreadSetup.taken} array. */
export interface ThreadChunk<D> {
  readonly id: number;
  readonly slot: number;
  readonly docs: readonly D[];
  /** The run's `maxClaimBytesPerDocument`. */
  readonly maxClaimBytes: number;
}

/** What a normalizer thread starts with: the flags by which it and the calling thread take chunks. */
export interface ThreadSetup {
  /** Per slot: 0 free to take, 1 taken by a thread, 2 taken by the calling thread. */
  readonly taken: Int32Array;
}

/** One document's outcome as a thread sends it back: its claims, or its error's code, message, context and cause. */
export type ThreadResult =
  | { readonly ok: NormalizedDocument }
  | {
      readonly code: BackfillErrorCode;
      readonly message: string;
      readonly context: Readonly<Record<string, unknown>>;
      readonly cause: unknown;
    };

/** A thread's answer to a chunk: its outcomes, or `null` when the calling thread had taken it first (`'ready'` once it has loaded). */
export interface ThreadAnswer {
  readonly id: number;
  readonly results: readonly ThreadResult[] | null;
}

/**
 * Chunks a thread holds at once: enough that it has work while the calling
 * thread is busy, few enough that documents do not wait in its young
 * generation (each scavenge would copy them again).
 */
const CHUNKS_IN_FLIGHT = 3;
/** Documents per chunk at least, and chunks per call at most (larger calls get larger chunks). */
const MIN_CHUNK = 4;
const MAX_CHUNKS_PER_CALL = 128;
/** Slots of the shared flags. A slot is reused once its chunk is done and no thread holds it (a chunk without a free slot is the calling threads'). */
const SLOTS = 1 << 16;
/** Largest number of normalizer threads. */
export const MAX_NORMALIZER_THREADS = 63;

/** Whether `normalizers` are the built-in ones in their order (a copy of the array counts): the only ones a thread has. */
export function areBuiltInNormalizers(normalizers: readonly VexNormalizer[]): boolean {
  return normalizers.length === defaultVexNormalizers.length && normalizers.every((n, i) => n === defaultVexNormalizers[i]);
}

/** One call's documents and what is known of them so far. */
interface Job {
  readonly results: Result<NormalizedDocument, BackfillError>[];
  /** Most bytes of claims per document (the run's `maxClaimBytesPerDocument`). */
  readonly maxClaimBytes: number;
  readonly tasks: Task[];
  left: number;
}

/** A run of a job's documents, normalized by a thread or by the calling thread. */
interface Task {
  readonly job: Job;
  readonly id: number;
  /** Its flag in the shared array; -1 when none was free (the calling threads normalize it). */
  readonly slot: number;
  readonly start: number;
  readonly docs: readonly NormalizableDocument[];
  done: boolean;
  /** Sent to a thread that has not answered: its slot may not be reused yet. */
  held: boolean;
}

interface Thread {
  readonly worker: Worker;
  /** Chunks sent to it and not answered. */
  readonly held: Map<number, Task>;
  /** Resolves once the thread has loaded and can take chunks, or has died. */
  readonly ready: Promise<void>;
  /** Whether it has answered a chunk it normalized: one that dies after that is replaced, one that dies before is not. */
  answered: boolean;
  /** Why it died, once its 'error' event said. */
  died?: string;
}

/**
 * Options of {@link NormalizerThreads}.
 *
 * @example
 * ```ts
 * const options: NormalizerThreadsOptions = { threads: 1 };
 * ```
 */
export interface NormalizerThreadsOptions {
  /** Worker threads besides the calling thread (1 to {@link MAX_NORMALIZER_THREADS}). */
  readonly threads: number;
  /** Told when a thread dies, and whether another starts in its place. @defaultValue a logger that discards everything */
  readonly logger?: Logger;
}

/** A document's error as it crossed from a thread: the code, message, context and cause it had there. */
const crossed = ({ code, message, context, cause }: Exclude<ThreadResult, { readonly ok: NormalizedDocument }>): BackfillError =>
  new BackfillError(code, message, { context, ...(cause === undefined ? {} : { cause }) });

/**
 * Worker threads that normalize raw documents with the built-in
 * normalizers ({@link defaultVexNormalizers}), shared by every backfill
 * given them. The calling thread takes chunks too, between its own I/O,
 * so `threads: 1` puts two cores to work. A thread that dies (or is
 * terminated) loses nothing: its documents are normalized by the others
 * or by the calling thread, and another thread starts in its place if it
 * had normalized a chunk before it died (one that dies before is not
 * replaced, so a thread that cannot work is not started again and again).
 * A thread Node cannot start (out of threads) is left out, with a
 * warning, and its share is done the same way. Threads start at the first call and end with
 * {@link NormalizerThreads.close}.
 *
 * @example
 * ```ts
 * await using threads = new NormalizerThreads({ threads: 1 });
 * const backfiller = new StatementBackfiller({ source, sink, normalizers: defaultVexNormalizers, normalizerThreads: threads });
 * ```
 */
export class NormalizerThreads implements AsyncDisposable {
  readonly #options: Result<Required<NormalizerThreadsOptions>, BackfillError>;
  readonly #taken = new Int32Array(new SharedArrayBuffer(SLOTS * Int32Array.BYTES_PER_ELEMENT));
  #threads: Thread[] | undefined;
  #nextId = 0;
  /** Slots never used yet start here; released slots wait in `#freeSlots`. */
  #nextSlot = 0;
  #freeSlots: number[] = [];
  /** Chunks not sent to a thread yet, oldest first. */
  #queue: Task[] = [];
  /** Chunks of dead threads, for the calling threads to normalize. */
  #orphans: Task[] = [];
  /** Callers waiting for their threads' answers. */
  #waiting: (() => void)[] = [];
  #closed = false;
  #byThreads = 0;

  constructor(options: NormalizerThreadsOptions) {
    const { threads } = options ?? {};
    const logger = loggerOf(options?.logger);
    this.#options =
      Number.isInteger(threads) && threads >= 1 && threads <= MAX_NORMALIZER_THREADS
        ? ok({ threads, logger })
        : err(new BackfillError('INVALID_ARGUMENT', `threads must be an integer from 1 to ${MAX_NORMALIZER_THREADS}.`));
  }

  /** Documents the threads normalized so far (the rest were normalized by the calling threads). */
  get documentsByThreads(): number {
    return this.#byThreads;
  }

  /**
   * Starts the threads (else the first call does) and resolves once each
   * has loaded and can take work, so their start overlaps the caller's.
   */
  async start(): Promise<void> {
    await Promise.all(this.#running().map((t) => t.ready));
  }

  /** Why the options are invalid, if they are. */
  get error(): BackfillError | undefined {
    return this.#options.isErr() ? this.#options.error : undefined;
  }

  /**
   * Each document's claims (or error), in the order given, as
   * `normalizeDocument` with the built-in normalizers would give them
   * (with `maxClaimBytes`, the most bytes of claims per document).
   * The documents are cut into chunks; each thread holds a few at a time,
   * taken from the start, while the calling thread normalizes chunks from
   * the end (those not sent yet, then those a thread has not started), so
   * neither side waits for the other.
   */
  async normalize(
    docs: readonly NormalizableDocument[],
    maxClaimBytes: number = DEFAULT_MAX_CLAIM_BYTES_PER_DOCUMENT,
  ): Promise<Result<NormalizedDocument, BackfillError>[]> {
    const job: Job = { results: new Array(docs.length), maxClaimBytes, tasks: [], left: docs.length };
    const size = Math.max(MIN_CHUNK, Math.ceil(docs.length / MAX_CHUNKS_PER_CALL));
    for (let start = 0; start < docs.length; start += size) {
      const id = this.#nextId++;
      const slot = this.#freeSlots.pop() ?? (this.#nextSlot < SLOTS ? this.#nextSlot++ : -1);
      const task: Task = { job, id, slot, start, docs: docs.slice(start, start + size), done: false, held: false };
      job.tasks.push(task);
      if (slot === -1) {
        this.#orphans.push(task);
        continue;
      }
      Atomics.store(this.#taken, slot, 0);
      this.#queue.push(task);
    }
    this.#feed();
    while (job.left > 0) {
      const task = this.#orphan() ?? this.#unsent(job) ?? this.#steal(job);
      if (task === undefined) {
        await new Promise<void>((resolve) => this.#waiting.push(resolve));
        continue;
      }
      this.#settle(
        task,
        task.docs.map((doc) => normalizeDocument(defaultVexNormalizers, doc, job.maxClaimBytes)),
      );
      // An orphan may be another call's.
      if (task.job !== job) this.#wakeAll();
      // Let I/O (the previous batch's commit, the next page's rows) and the threads' answers in.
      await nextTurn();
    }
    return job.results;
  }

  /** A dead thread's chunk not done yet (of any call). */
  #orphan(): Task | undefined {
    let task = this.#orphans.shift();
    while (task?.done) task = this.#orphans.shift();
    return task;
  }

  /** The job's last chunk not sent to a thread, now taken by the calling thread. */
  #unsent(job: Job): Task | undefined {
    for (let i = this.#queue.length - 1; i >= 0; i -= 1) {
      const task = this.#queue[i] as Task;
      if (task.job === job && Atomics.compareExchange(this.#taken, task.slot, 0, 2) === 0) {
        this.#queue.splice(i, 1);
        return task;
      }
    }
    return undefined;
  }

  /** The job's last chunk no thread has taken yet, now taken by the calling thread. */
  #steal(job: Job): Task | undefined {
    for (let i = job.tasks.length - 1; i >= 0; i -= 1) {
      const task = job.tasks[i] as Task;
      if (!task.done && task.slot !== -1 && Atomics.compareExchange(this.#taken, task.slot, 0, 2) === 0) return task;
    }
    return undefined;
  }

  #settle(task: Task, results: readonly Result<NormalizedDocument, BackfillError>[]): void {
    if (task.done) return;
    task.done = true;
    for (const [i, r] of results.entries()) task.job.results[task.start + i] = r;
    task.job.left -= results.length;
    this.#release(task);
  }

  /** Frees a chunk's slot once it is done and no thread holds it (a thread that holds it may still take its flag). */
  #release(task: Task): void {
    if (!task.done || task.held || task.slot === -1) return;
    this.#freeSlots.push(task.slot);
  }

  /** Sends queued chunks to threads with room (starting the threads at the first call). */
  #feed(): void {
    for (const thread of this.#running()) {
      while (thread.held.size < CHUNKS_IN_FLIGHT) {
        const task = this.#queue.shift();
        if (task === undefined) return;
        try {
          thread.worker.postMessage({
            id: task.id,
            slot: task.slot,
            docs: task.docs,
            maxClaimBytes: task.job.maxClaimBytes,
          } satisfies ThreadChunk<NormalizableDocument>);
        } catch {
          // Content that cannot be copied to a thread (nested too deep for the copy, or not cloneable): the calling threads normalize it.
          this.#orphans.push(task);
          this.#wakeAll();
          continue;
        }
        thread.held.set(task.id, task);
        task.held = true;
        // A thread that holds work keeps the process alive until it answers.
        thread.worker.ref();
      }
    }
  }

  /** The live threads, started at the first call; none once closed or with invalid options. */
  #running(): readonly Thread[] {
    if (this.#closed || this.#options.isErr()) return [];
    this.#threads ??= Array.from({ length: this.#options.value.threads }, () => this.#start()).filter((t) => t !== undefined);
    return this.#threads;
  }

  /** A new thread, or none when it cannot start (its share is then the calling threads'). */
  #start(): Thread | undefined {
    const entry = workerModuleUrl('normalizer-thread-main', import.meta.url);
    const workerData: ThreadSetup = { taken: this.#taken };
    let worker: Worker;
    try {
      // No inherited flags (a parent's `-e` has no place there). From the sources its imports name `.js`
      // files, which tsx's loader resolves; the compiled package needs no loader.
      worker = new Worker(entry, { workerData, execArgv: entry.pathname.endsWith('.ts') ? ['--import', 'tsx'] : [] });
    } catch (error) {
      // Node throws when it cannot create the thread (ERR_WORKER_INIT_FAILED: out of threads). Thrown on,
      // it would reject start(), which the distributed worker does not await.
      const why = error instanceof Error ? error.message : String(error);
      this.#logger.warn(`a normalizer thread could not start (${why}); the other threads and the calling thread normalize its share.`);
      return undefined;
    }
    let loaded: () => void = () => undefined;
    const thread: Thread = { worker, held: new Map(), ready: new Promise<void>((resolve) => (loaded = resolve)), answered: false };
    // An idle thread does not keep the process alive; one that is loading or holds work does. (Adding a
    // 'message' listener refs the worker again, so this runs after the listeners are added.)
    const idle = (): void => {
      // Once closed, it stays referenced until it has ended (answers still arriving may not let the process go first).
      if (thread.held.size === 0 && !this.#closed) worker.unref();
    };
    worker.on('message', (answer: ThreadAnswer | 'ready') => {
      if (answer === 'ready') {
        idle();
        return loaded();
      }
      const { id, results } = answer;
      const task = thread.held.get(id);
      if (task === undefined) return;
      thread.held.delete(id);
      task.held = false;
      this.#feed();
      idle();
      if (results === null) return this.#release(task);
      thread.answered = true;
      this.#byThreads += results.length;
      // Done already (not expected: the thread took its flag): only its slot is freed.
      if (task.done) return this.#release(task);
      this.#settle(
        task,
        results.map((r) => ('ok' in r ? ok(r.ok) : err(crossed(r)))),
      );
      this.#wakeAll();
    });
    worker.on('error', (e) => {
      thread.died = e instanceof Error ? e.message : String(e);
    });
    worker.on('exit', (code) => {
      loaded();
      // What it held and did not answer is the calling threads' to do (whether or not it had taken it).
      for (const task of thread.held.values()) {
        task.held = false;
        if (task.done) this.#release(task);
        else this.#orphans.push(task);
      }
      thread.held.clear();
      this.#threads = this.#threads?.filter((t) => t !== thread);
      if (!this.#closed) this.#replace(thread, code);
      this.#feed();
      this.#wakeAll();
    });
    return thread;
  }

  /**
   * Starts a thread in place of one that died, so a long run keeps its
   * cores: only if the dead one had normalized a chunk, so a thread that
   * cannot load or dies on its first chunk (and its replacement would
   * too) is not started again and again. Its documents are the calling
   * threads' meanwhile.
   */
  #replace(dead: Thread, code: number): void {
    const why = `a normalizer thread died (${dead.died ?? `exit code ${code}`})`;
    if (!dead.answered) {
      this.#logger.warn(
        `${why} before it normalized anything; not replaced, the other threads and the calling thread normalize its share.`,
      );
      return;
    }
    this.#logger.warn(`${why}; starting another in its place.`);
    const replacement = this.#start();
    if (replacement !== undefined) this.#threads?.push(replacement);
  }

  #wakeAll(): void {
    const waiting = this.#waiting;
    this.#waiting = [];
    for (const wake of waiting) wake();
  }

  get #logger(): Logger {
    return this.#options.isOk() ? this.#options.value.logger : silentLogger;
  }

  /** Ends the threads; what they held is normalized by its callers. */
  async close(): Promise<void> {
    this.#closed = true;
    const threads = this.#threads ?? [];
    // Referenced until they have ended: an idle thread is not, and the process would not wait for close().
    await Promise.all(
      threads.map((t) => {
        t.worker.ref();
        return t.worker.terminate();
      }),
    );
  }

  /** {@link NormalizerThreads.close}, for `await using`. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
