/**
 * Streams batches of staging rows into one table with `COPY … FROM STDIN`
 * in text format, with backpressure.
 *
 * @module
 */
import { once } from 'node:events';
import type { Writable } from 'node:stream';
import { finished } from 'node:stream/promises';
import type { PgClientLike } from '../_internals/pg.js';
import type { QualifiedName } from '../_internals/sql-identifier.js';
import { CopyTextBuilder } from './copy-text-encoding.js';
import { copyIn } from './sql.js';
import type { StagingRow } from './staging-target.js';

/** Resolves when `stream` drains, rejects if it fails first. */
async function drained(stream: Writable): Promise<void> {
  const ac = new AbortController();
  try {
    await Promise.race([once(stream, 'drain', { signal: ac.signal }), once(stream, 'close', { signal: ac.signal })]);
  } finally {
    ac.abort();
  }
}

/**
 * COPYs `batches` into `dest` and resolves with the rows the server took.
 * `beforeBatch` runs before each batch and may throw to stop the load (an
 * abort, or another table's failed load). `freeze` needs `dest` to have been
 * created or truncated in the current transaction.
 */
export async function copyRows(
  client: PgClientLike,
  dest: QualifiedName,
  batches: AsyncIterable<readonly StagingRow[]>,
  freeze: boolean,
  beforeBatch: () => void,
): Promise<number> {
  const stream = client.query(copyIn(dest.sql, freeze)) as ReturnType<typeof copyIn>;
  let serverError: unknown;
  stream.on('error', (e: unknown) => {
    serverError ??= e;
  });
  const text = new CopyTextBuilder();
  try {
    for await (const batch of batches) {
      if (serverError !== undefined) break;
      beforeBatch();
      // One buffer per batch: one CopyData message.
      for (const row of batch) text.row(row.id, row.raw);
      if (!stream.write(text.take())) await drained(stream);
    }
    if (serverError !== undefined) throw serverError;
    stream.end();
    await finished(stream);
  } catch (error) {
    // The server's error ended the COPY already: there is nothing to cancel.
    // A COPY the server refused at once (row-level security, a generated
    // column) never started, and a stream destroyed then waits for the start
    // that never comes: it would never close, and the import would hang,
    // its transaction holding the live tables' locks.
    if (serverError !== undefined) throw serverError;
    if (!stream.destroyed) {
      // CopyFail: the server ends the COPY and the connection stays usable.
      // (not events.once: that would reject with the server's echo of our error)
      const closed = new Promise((resolve) => stream.once('close', resolve));
      stream.destroy(error instanceof Error ? error : new Error(String(error)));
      await closed;
    }
    // Not the server's echo of the CopyFail, which the destroy sets as serverError.
    throw error;
  }
  return stream.rowCount;
}
