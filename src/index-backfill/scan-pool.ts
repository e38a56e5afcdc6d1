import { Worker } from 'node:worker_threads';
import { err, ok, type Result } from 'neverthrow';
import { BackfillError, type BackfillErrorCode } from '../errors.js';
import { scanEpisode, type EpisodeScan } from './episode-scan.js';

/** What every scan of one run shares. */
export interface ScanSettings {
  readonly readChunkBytes: number;
  readonly maxDecompressedBytes: number;
  readonly maxMetaBytes: number;
  readonly requireHexCommit: boolean;
}

/** @internal */
export interface ScanRequest {
  readonly id: number;
  readonly path: string;
}

interface WireError {
  readonly code: BackfillErrorCode;
  readonly message: string;
}

/** @internal */
export type ScanResponse =
  | { readonly id: number; readonly ok: true; readonly sha256: string; readonly size: number; readonly commit: string | undefined; readonly problem: WireError | undefined }
  | { readonly id: number; readonly ok: false; readonly error: WireError };

interface Lane {
  readonly worker: Worker;
  readonly jobs: Map<number, { path: string; resolve: (r: Result<EpisodeScan, BackfillError>) => void }>;
  failed: boolean;
}

const revive = (e: WireError, path: string): BackfillError => new BackfillError(e.code, e.message, { context: { path } });

/**
 * Scans tarballs on worker threads (SHA-256 is CPU-bound, and one thread
 * caps a run at one core). When a worker cannot start or dies (for
 * instance when the module was bundled without its worker file), its jobs
 * and all later ones run on the calling thread instead, so results never
 * depend on threads being available.
 */
export class ScanPool {
  readonly #lanes: Lane[] = [];
  readonly #local: Buffer[] = [];
  #nextId = 0;
  #threadsFailed = false;

  constructor(
    threads: number,
    private readonly settings: ScanSettings,
    private readonly signal: AbortSignal | undefined,
  ) {
    for (let i = 0; i < threads; i += 1) {
      let worker: Worker;
      try {
        worker = new Worker(new URL('./scan-worker.js', import.meta.url), { workerData: settings });
      } catch {
        this.#threadsFailed = true;
        break;
      }
      const lane: Lane = { worker, jobs: new Map(), failed: false };
      worker.on('message', (response: ScanResponse) => {
        const job = lane.jobs.get(response.id);
        if (!job) return;
        lane.jobs.delete(response.id);
        if (response.ok) {
          const { sha256, size, commit, problem } = response;
          job.resolve(ok({ sha256, size, commit, problem: problem && revive(problem, job.path) }));
        } else job.resolve(err(revive(response.error, job.path)));
      });
      const fail = (): void => {
        if (lane.failed) return;
        lane.failed = true;
        this.#threadsFailed = true;
        for (const [, job] of lane.jobs) void this.#scanHere(job.path).then(job.resolve);
        lane.jobs.clear();
      };
      worker.on('error', fail);
      worker.on('exit', fail);
      this.#lanes.push(lane);
    }
    signal?.addEventListener('abort', this.#onAbort, { once: true });
  }

  readonly #onAbort = (): void => {
    for (const lane of this.#lanes) if (!lane.failed) lane.worker.postMessage('abort');
  };

  async #scanHere(path: string): Promise<Result<EpisodeScan, BackfillError>> {
    const buffer = this.#local.pop() ?? Buffer.allocUnsafe(this.settings.readChunkBytes);
    try {
      return await scanEpisode(path, { ...this.settings, buffer, signal: this.signal });
    } finally {
      this.#local.push(buffer);
    }
  }

  /** Scans one tarball on the least busy worker (or here, without workers). */
  scan(path: string): Promise<Result<EpisodeScan, BackfillError>> {
    const lanes = this.#threadsFailed ? [] : this.#lanes.filter((l) => !l.failed);
    if (lanes.length === 0) return this.#scanHere(path);
    const lane = lanes.reduce((a, b) => (b.jobs.size < a.jobs.size ? b : a));
    const id = (this.#nextId += 1);
    return new Promise((resolve) => {
      lane.jobs.set(id, { path, resolve });
      lane.worker.postMessage({ id, path } satisfies ScanRequest);
    });
  }

  /** Stops the workers. */
  async close(): Promise<void> {
    this.signal?.removeEventListener('abort', this.#onAbort);
    for (const lane of this.#lanes) lane.failed = true;
    await Promise.all(this.#lanes.map((l) => l.worker.terminate()));
  }
}
