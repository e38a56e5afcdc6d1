/**
 * Splitting documents into bulk writes bounded both by count and by BSON
 * bytes, and the per-document BSON size check, measured with the driver's
 * own `calculateObjectSize`.
 *
 * @module
 */
import { err, ok, type Result } from 'neverthrow';
import { BackfillError, type BackfillErrorContext } from '../errors.js';
import type { Bson } from './bson.js';

/** How big one bulk write may get. Both limits apply; whichever is hit first closes the batch. */
export interface BatchLimits {
  /** Most documents in one batch (at least 1). */
  readonly maxCount: number;
  /** Most bytes in one batch. A single item larger than this travels alone. */
  readonly maxBytes: number;
}

/**
 * Gathers items into batches. `add` hands back the batch that is full
 * before the new item can join it; `flush` hands back the rest.
 *
 * @example
 * ```ts
 * const b = new BatchAccumulator<string>({ maxCount: 2, maxBytes: 100 });
 * b.add('a', 10); b.add('b', 10);
 * b.add('c', 10); // ['a', 'b']
 * b.flush();      // ['c']
 * ```
 */
export class BatchAccumulator<T> {
  readonly #limits: BatchLimits;
  #items: T[] = [];
  #bytes = 0;

  constructor(limits: BatchLimits) {
    this.#limits = limits;
  }

  /** Adds `item` (of `bytes` bytes); returns the previous batch when `item` does not fit into it. */
  add(item: T, bytes: number): T[] | undefined {
    let full: T[] | undefined;
    if (this.#items.length > 0 && (this.#items.length >= this.#limits.maxCount || this.#bytes + bytes > this.#limits.maxBytes))
      full = this.flush();
    this.#items.push(item);
    this.#bytes += bytes;
    return full;
  }

  /** The batch being gathered (possibly empty), and a fresh start. */
  flush(): T[] | undefined {
    if (this.#items.length === 0) return undefined;
    const out = this.#items;
    this.#items = [];
    this.#bytes = 0;
    return out;
  }
}

/** How {@link sendInLanes} spreads items over parallel writers. */
export interface LaneOptions<T> {
  /** Parallel lanes (writers); each has at most one batch in flight. */
  readonly lanes: number;
  /** The item's key; items with equal keys share a lane and keep their order. */
  readonly keyOf: (item: T) => string;
  /** The item's size in bytes, counted against `limits.maxBytes`. */
  readonly sizeOf: (item: T) => number;
  readonly limits: BatchLimits;
  /** Also close a batch before an item whose key it already holds (for unordered upserts). */
  readonly uniqueKeysPerBatch?: boolean;
  /** Writes one batch. */
  readonly send: (batch: T[]) => Promise<void>;
}

/** FNV-1a, 32-bit: a cheap, stable spread of keys over lanes. */
function laneHash(key: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i += 1) {
    h ^= key.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/**
 * Sends a stream of items in bounded batches over `lanes` parallel writers.
 * An item's lane comes from its key, so items with the same key are written
 * in input order (a later one never overtakes an earlier one) while other
 * lanes keep working. Reading waits while the item's lane is busy
 * (backpressure). The first failed batch stops the reading; batches already
 * in flight finish, then that failure is thrown. Resolves with the number of
 * items sent.
 *
 * @example
 * ```ts
 * const sent = await sendInLanes(docsInChunks, {
 *   lanes: 4, keyOf: (d) => String(d._id), sizeOf: (d) => bson.calculateObjectSize(d),
 *   limits: { maxCount: 1000, maxBytes: 8 << 20 },
 *   send: (batch) => collection.insertMany(batch, { ordered: false }).then(() => undefined),
 * });
 * ```
 */
export async function sendInLanes<T>(source: AsyncIterable<Iterable<T>>, options: LaneOptions<T>): Promise<number> {
  const lanes = Array.from({ length: Math.max(1, Math.floor(options.lanes)) }, () => ({
    acc: new BatchAccumulator<T>(options.limits),
    keys: new Set<string>(),
    busy: Promise.resolve(),
  }));
  let failure: { error: unknown } | undefined;
  let sent = 0;
  const launch = async (lane: (typeof lanes)[number], batch: T[]): Promise<void> => {
    await lane.busy; // one batch in flight per lane keeps the lane's order
    if (failure !== undefined) return;
    lane.busy = options.send(batch).then(
      () => {
        sent += batch.length;
      },
      (error: unknown) => {
        failure ??= { error };
      },
    );
  };
  try {
    outer: for await (const chunk of source) {
      for (const item of chunk) {
        if (failure !== undefined) break outer;
        const key = options.keyOf(item);
        const lane = lanes[laneHash(key) % lanes.length]!;
        if (options.uniqueKeysPerBatch === true && lane.keys.has(key)) {
          const held = lane.acc.flush();
          lane.keys.clear();
          if (held !== undefined) await launch(lane, held);
        }
        const full = lane.acc.add(item, options.sizeOf(item));
        if (full !== undefined) {
          lane.keys.clear();
          await launch(lane, full);
        }
        lane.keys.add(key);
      }
    }
    for (const lane of lanes) {
      const rest = lane.acc.flush();
      if (rest !== undefined && failure === undefined) await launch(lane, rest);
    }
  } catch (error) {
    failure ??= { error };
  }
  await Promise.all(lanes.map((l) => l.busy));
  if (failure !== undefined) throw failure.error;
  return sent;
}

/**
 * Rejects limits that would loop or produce empty batches.
 *
 * @example
 * ```ts
 * const limits = validateBatchLimits({ maxCount: 1000, maxBytes: 8 * 1024 * 1024 });
 * ```
 */
export function validateBatchLimits(limits: BatchLimits): Result<BatchLimits, BackfillError> {
  if (!Number.isSafeInteger(limits.maxCount) || limits.maxCount < 1) {
    return err(new BackfillError('INVALID_ARGUMENT', `batchSize must be a whole number of at least 1, not ${String(limits.maxCount)}.`));
  }
  if (!Number.isFinite(limits.maxBytes) || limits.maxBytes < 1) {
    return err(new BackfillError('INVALID_ARGUMENT', `batchBytes must be a positive number of bytes, not ${String(limits.maxBytes)}.`));
  }
  return ok(limits);
}

/**
 * Splits `items` into batches of at most `maxCount` items and at most
 * `maxBytes` bytes (by `sizeOf`), keeping their order.
 *
 * @example
 * ```ts
 * [...splitBatches([5, 5, 5, 20, 1], (n) => n, { maxCount: 10, maxBytes: 10 })];
 * // [[5, 5], [5], [20], [1]]
 * ```
 */
export function* splitBatches<T>(items: Iterable<T>, sizeOf: (item: T) => number, limits: BatchLimits): Generator<T[]> {
  const acc = new BatchAccumulator<T>(limits);
  for (const item of items) {
    const full = acc.add(item, sizeOf(item));
    if (full !== undefined) yield full;
  }
  const rest = acc.flush();
  if (rest !== undefined) yield rest;
}

/**
 * Re-cuts a stream of batches (of any size) into batches bounded by
 * `limits`, pulling one input batch at a time.
 *
 * @example
 * ```ts
 * for await (const batch of rebatch(rowsInChunks, (doc) => bson.calculateObjectSize(doc), { maxCount: 1000, maxBytes: 8 << 20 })) {
 *   await collection.insertMany(batch, { ordered: false });
 * }
 * ```
 */
export async function* rebatch<T>(
  source: AsyncIterable<Iterable<T>>,
  sizeOf: (item: T) => number,
  limits: BatchLimits,
): AsyncGenerator<T[]> {
  const acc = new BatchAccumulator<T>(limits);
  for await (const chunk of source) {
    for (const item of chunk) {
      const full = acc.add(item, sizeOf(item));
      if (full !== undefined) yield full;
    }
  }
  const rest = acc.flush();
  if (rest !== undefined) yield rest;
}

/**
 * The BSON size of what the driver will send for `document` (the document
 * itself for an insert; with `statement`, the statement built from it, e.g.
 * the `{ q, u, upsert }` of a `replaceOne … upsert`), or
 * `DOCUMENT_TOO_LARGE` (naming the id, and the table and line when `context`
 * has them) when the driver would refuse it. The driver refuses a document
 * whose size is `>= maxBytes` (the server's `maxBsonObjectSize`, 16 MiB), so
 * the largest accepted is one byte less.
 *
 * @example
 * ```ts
 * const size = checkDocumentSize({ _id: 'a', blob: 'x'.repeat(17 << 20) }, BSON, 16 << 20, { table: 'linksets_raw', id: 'a' });
 * size.isErr(); // true: DOCUMENT_TOO_LARGE
 * ```
 */
export function checkDocumentSize(
  document: Record<string, unknown>,
  bson: Bson,
  maxBytes: number,
  context: BackfillErrorContext = {},
  statement?: (document: Record<string, unknown>) => Record<string, unknown>,
): Result<number, BackfillError> {
  let size: number;
  try {
    size = bson.calculateObjectSize(statement === undefined ? document : statement(document), { ignoreUndefined: false });
  } catch (cause) {
    const message = cause instanceof Error ? cause.message : String(cause);
    return err(
      new BackfillError('RECORD_INVALID', `record ${JSON.stringify(context.id ?? '?')} cannot be encoded as BSON: ${message}`, {
        cause,
        context,
      }),
    );
  }
  if (size < maxBytes) return ok(size);
  const at = [
    typeof context.table === 'string' ? context.table : undefined,
    typeof context.member === 'string' || typeof context.line === 'number'
      ? [
          typeof context.member === 'string' ? context.member : undefined,
          typeof context.line === 'number' ? `line ${context.line}` : undefined,
        ]
          .filter((x) => x !== undefined)
          .join(' ')
      : undefined,
  ]
    .filter((s) => s !== undefined)
    .join(', ');
  const what = statement === undefined ? 'as BSON' : 'as a BSON write statement';
  return err(
    new BackfillError(
      'DOCUMENT_TOO_LARGE',
      `${at === '' ? '' : `${at}: `}record ${JSON.stringify(context.id ?? '?')} is ${size} bytes ${what}; the driver accepts at most ${maxBytes - 1} (MongoDB's ${maxBytes}-byte limit); shrink it.`,
      { context: { ...context, bytes: size, limit: maxBytes } },
    ),
  );
}
