import { createReadStream } from 'node:fs';
import { pipeline } from 'node:stream';
import { err, ok, type Result } from 'neverthrow';
import { type BackfillError, toBackfillError } from '../errors.js';
import { HashingPassThrough } from '../_internals/hashing-stream.js';
import { MetaProbe, type MetaProbeOptions } from './episode-meta.js';

/** One tarball's facts: hash and size of the stored file, and its commit when readable. */
export interface EpisodeScan {
  readonly sha256: string;
  readonly size: number;
  readonly commit: string | undefined;
  /** Why there is no commit, when there is none. */
  readonly problem: BackfillError | undefined;
}

/** Options of {@link scanEpisode}. */
export interface ScanEpisodeOptions extends Omit<MetaProbeOptions, 'path'> {
  readonly readChunkBytes: number;
  readonly signal?: AbortSignal | undefined;
}

/**
 * Reads an episode tarball once: every byte goes into the SHA-256, and the
 * bytes up to the first `meta.json` also go through zstd and tar. After that
 * the decoder is dropped and the rest is only hashed, so memory stays flat
 * whatever the tarball's size. An error here means the file could not be
 * read at all; a bad archive is an `EpisodeScan` with a `problem`.
 */
export async function scanEpisode(path: string, options: ScanEpisodeOptions): Promise<Result<EpisodeScan, BackfillError>> {
  const probe = new MetaProbe({ ...options, path });
  const hashing = new HashingPassThrough();
  try {
    const file = createReadStream(path, { highWaterMark: options.readChunkBytes, ...(options.signal ? { signal: options.signal } : {}) });
    const stream = pipeline(file, hashing, () => {});
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      if (!probe.settled) await probe.write(chunk);
    }
    probe.end();
    const meta = await probe.outcome;
    return ok({ sha256: hashing.digest(), size: hashing.bytes, commit: meta.commit, problem: meta.problem });
  } catch (error) {
    probe.stop();
    return err(toBackfillError(error, 'IO_ERROR', { path }));
  }
}
