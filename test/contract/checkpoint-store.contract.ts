/**
 * The CheckpointStore port's contract: what a sink's commitBatch saved, a
 * store reads back exactly (for StatementBackfiller resume).
 */
import { describe, expect, it } from 'vitest';
import type { BackfillFailure, CheckpointStore, StatementSink } from '../../src/statements/ports.js';
import { batch, checkpoint, claim, doc, digest, useSinkFixture } from './statement-fixtures.js';

/** A sink that saves checkpoints and a store over the same place that reads them. */
export interface CheckpointStoreFixture {
  readonly sink: StatementSink;
  readonly store: CheckpointStore;
  cleanup(): Promise<void>;
}

/**
 * The assertions every {@link CheckpointStore} must pass.
 *
 * @param name - shown in the test titles
 * @param make - builds a fresh fixture for one test; `prepare()` not yet called
 */
export function checkpointStoreContract(name: string, make: () => Promise<CheckpointStoreFixture>): void {
  describe(`CheckpointStore contract: ${name}`, () => {
    const fixture = useSinkFixture(make);

    it('a run that never committed has no checkpoint', async () => {
      const f = await fixture();
      expect((await f.store.loadCheckpoint('never-ran'))._unsafeUnwrap()).toBeNull();
    });

    it('reads back every field of the last checkpoint', async () => {
      const f = await fixture();
      const A = digest(1);
      const cp1 = checkpoint(
        'run-1',
        { evaluated: 1, backfilled: 1, claimsWritten: 1 },
        { retrievedAt: '2025-10-19T08:00:00.123Z', digest: A },
        {
          options: { retrievedSince: '2025-10-17T08:00:00.000Z', force: true, maxDocuments: 2000 },
          outcomeSha256: 'a'.repeat(64),
        },
      );
      (await f.sink.commitBatch(batch('run-1', [doc(A, [claim(A, 'CVE-1', 'p')])], { force: true, checkpoint: cp1 })))._unsafeUnwrap();
      expect((await f.store.loadCheckpoint('run-1'))._unsafeUnwrap()).toEqual({ ...cp1, failed: [] });

      const cp2 = {
        ...cp1,
        cursor: { retrievedAt: '2025-10-19T09:00:00.999Z', digest: digest(2) },
        counters: { ...cp1.counters, evaluated: 2, skipped: 1 },
        outcomeSha256: 'b'.repeat(64),
        completed: true,
      };
      (await f.sink.commitBatch(batch('run-1', [], { force: true, checkpoint: cp2 })))._unsafeUnwrap();
      expect((await f.store.loadCheckpoint('run-1'))._unsafeUnwrap()).toEqual({ ...cp2, failed: [] });
    });

    it('keeps failures in order across batches, and apart per run', async () => {
      const f = await fixture();
      const fail = (n: number): BackfillFailure => ({
        digest: digest(n),
        code: n % 2 === 0 ? 'DOCUMENT_INVALID' : 'NO_NORMALIZER',
        message: `failure ${n}: “quoted”\nline`,
      });
      const first = [fail(1), fail(2)];
      const second = [fail(3)];
      (
        await f.sink.commitBatch(
          batch('run-a', [], {
            failures: first,
            checkpoint: checkpoint('run-a', { evaluated: 2, failures: 2 }, { retrievedAt: '2025-10-19T08:00:00.000Z', digest: digest(2) }),
          }),
        )
      )._unsafeUnwrap();
      (
        await f.sink.commitBatch(
          batch('run-b', [], { failures: [fail(9)], checkpoint: checkpoint('run-b', { evaluated: 1, failures: 1 }, null) }),
        )
      )._unsafeUnwrap();
      (
        await f.sink.commitBatch(
          batch('run-a', [], {
            failures: second,
            checkpoint: checkpoint('run-a', { evaluated: 3, failures: 3 }, { retrievedAt: '2025-10-19T08:00:01.000Z', digest: digest(3) }),
          }),
        )
      )._unsafeUnwrap();
      expect((await f.store.loadCheckpoint('run-a'))._unsafeUnwrap()?.failed).toEqual([...first, ...second]);
      const b = (await f.store.loadCheckpoint('run-b'))._unsafeUnwrap();
      expect(b?.failed).toEqual([fail(9)]);
      expect(b?.cursor).toBeNull();
    });

    it('lockRun: one holder per run id; a second is refused with LOCKED, other run ids and released locks are free', async (ctx) => {
      const f = await fixture();
      const { store } = f;
      if (store.lockRun === undefined) return ctx.skip('this store does not implement lockRun (runs are unlocked)');
      const first = (await store.lockRun('run-1'))._unsafeUnwrap();
      const second = await store.lockRun('run-1');
      expect(second.isErr() && second.error.code).toBe('LOCKED');
      expect(second.isErr() && second.error.message).toContain('run-1');
      const other = (await store.lockRun('run-2'))._unsafeUnwrap();
      await first.release();
      await first.release();
      const again = (await store.lockRun('run-1'))._unsafeUnwrap();
      await Promise.all([again.release(), other.release()]);
    });
  });
}
