import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { BackfillError } from '../errors.js';
import { workerModuleUrl } from '../_internals/worker-url.js';
import type { HashReply, HashRequest, HashThreadData } from './hash-thread.js';

/** The SHA-256 and size of a file as one worker read it. */
export interface FileDigest {
  readonly sha256: string;
  readonly size: number;
  /** Why a file that starts like zstd is not whole as its frames go (see `hash-thread.ts`), and at which byte. */
  readonly framing?: { readonly error: Error; readonly offset: number };
}

interface Job {
  readonly fd: number;
  readonly path: string;
  readonly resolve: (digest: FileDigest) => void;
  readonly reject: (error: BackfillError) => void;
}

/**
 * A fixed set of worker threads that hash whole files (`hash-thread.ts`),
 * fed from one queue. Each worker reads the file, through a descriptor the
 * caller opened, into one reused buffer, so no bytes cross threads and
 * nothing is copied, and the file hashed is the one the caller opened; the main
 * thread is left only the `meta.json` probe of each tarball. Hashing on the
 * main thread was half its time, and reading the file there to hand it to a
 * hasher cost as much again in copies.
 */
export class HashPool {
  readonly #idle: Worker[] = [];
  readonly #all: Worker[] = [];
  readonly #queue: Job[] = [];
  readonly #running = new Map<number, Job>();
  readonly #stop = new Int32Array(new SharedArrayBuffer(4));
  #nextId = 0;
  #closed = false;

  /**
   * @param readBytes - bytes per read in each worker
   * @param size - workers; defaults to the cores Node may use
   */
  constructor(readBytes: number, size = availableParallelism()) {
    for (let i = 0; i < Math.max(1, size); i++) {
      const workerData: HashThreadData = { readBytes, stop: this.#stop.buffer as SharedArrayBuffer };
      // No inherited flags: the thread needs no loader (Node strips the types
      // of its .ts source), and a parent's `--input-type` or `-e` has no place there.
      const worker = new Worker(workerModuleUrl('hash-thread', import.meta.url), { execArgv: [], workerData });
      worker.on('message', (reply: HashReply) => this.#settle(worker, reply));
      worker.on('error', (error) =>
        this.#failAll(new BackfillError('IO_ERROR', `a hashing worker failed: ${error.message}`, { cause: error })),
      );
      worker.unref(); // see #keepAlive
      this.#all.push(worker);
      // A job waits for the first worker that has started, not for the one it
      // happened to be posted to (under load one can start much later).
      worker.once('online', () => {
        this.#idle.push(worker);
        this.#dispatch();
      });
    }
  }

  /**
   * Hashes the open file `fd` (`path` names it in errors) from its start to
   * its end, reading at explicit offsets; rejects with `IO_ERROR` (or
   * `ABORTED` after {@link HashPool.abort}). The caller keeps the descriptor
   * open until the promise settles.
   */
  hash(fd: number, path: string): Promise<FileDigest> {
    if (this.#closed) return Promise.reject(new BackfillError('ABORTED', `${path}: the hashing pool is closed.`, { context: { path } }));
    return new Promise<FileDigest>((resolve, reject) => {
      this.#queue.push({ fd, path, resolve, reject });
      this.#dispatch();
    });
  }

  /** Stops every worker at its next read; queued and running files reject with `ABORTED`. */
  abort(): void {
    Atomics.store(this.#stop, 0, 1);
    for (const job of this.#queue.splice(0)) job.reject(aborted(job.path));
  }

  /** Ends the workers; files still being hashed reject with `ABORTED`. */
  async close(): Promise<void> {
    this.#closed = true;
    this.abort();
    // A terminated worker may never answer for its file.
    for (const job of this.#running.values()) job.reject(aborted(job.path));
    this.#running.clear();
    await Promise.all(this.#all.map((w) => w.terminate()));
  }

  #dispatch(): void {
    // After close() nothing is sent, and refs are left alone: a worker that
    // came online late used to unref every worker here while they were being
    // terminated, and the process could end inside close() (exit code 13).
    if (this.#closed) return;
    this.#keepAlive();
    while (this.#idle.length > 0 && this.#queue.length > 0) {
      const worker = this.#idle.pop()!;
      const job = this.#queue.shift()!;
      this.#nextId += 1;
      const id = this.#nextId;
      this.#running.set(id, job);
      const request: HashRequest = { id, fd: job.fd };
      worker.postMessage(request);
    }
  }

  /**
   * Workers keep the process alive only while there is work (queued, or
   * waiting for a worker to start), so a caller that forgets close() does
   * not hang its process.
   */
  #keepAlive(): void {
    const busy = this.#queue.length > 0 || this.#running.size > 0;
    for (const worker of this.#all) {
      if (busy) worker.ref();
      else worker.unref();
    }
  }

  #settle(worker: Worker, reply: HashReply): void {
    const job = this.#running.get(reply.id);
    this.#running.delete(reply.id);
    this.#idle.push(worker);
    if (job !== undefined) {
      if ('aborted' in reply) job.reject(aborted(job.path));
      else if ('error' in reply) {
        const cause = Object.assign(new Error(reply.error.message), reply.error.code === undefined ? {} : { code: reply.error.code });
        job.reject(new BackfillError('IO_ERROR', `${job.path}: ${reply.error.message}`, { cause, context: { path: job.path } }));
      } else {
        const { sha256, size, framing } = reply;
        job.resolve({
          sha256,
          size,
          ...(framing === undefined
            ? {}
            : { framing: { error: Object.assign(new Error(framing.message), { code: framing.code }), offset: framing.offset } }),
        });
      }
    }
    this.#dispatch();
  }

  /** A worker died (it should not): nothing more can be trusted to finish, so the pool closes. */
  #failAll(error: BackfillError): void {
    for (const job of [...this.#running.values(), ...this.#queue.splice(0)]) job.reject(error);
    this.#running.clear();
    // Once closed nothing adjusts refs any more; ending the workers keeps a
    // caller that never calls close() from being held open by them.
    void this.close();
  }
}

function aborted(path: string): BackfillError {
  return new BackfillError('ABORTED', `${path}: reading was aborted.`, { context: { path } });
}
