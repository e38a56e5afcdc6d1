/**
 * The StatementSink port's contract (src/statements/ports.ts): claims unique
 * on (documentDigest, vulnerabilityId, productKey), documents remembered for
 * dedupe, `force` replacing a document's claims, batches safe to replay.
 */
import { describe, expect, it } from 'vitest';
import type { StatementSink } from '../../src/statements/ports.js';
import { batch, claim, doc, digest, rowsOf, useSinkFixture, type ClaimRow } from './statement-fixtures.js';

/** A sink over a fresh store, and an oracle reading its claims without the sink. */
export interface StatementSinkFixture {
  readonly sink: StatementSink;
  /** Every stored claim, sorted by identity (the oracle sorts; see sortRows). */
  claims(): Promise<ClaimRow[]>;
  cleanup(): Promise<void>;
}

/**
 * The assertions every {@link StatementSink} must pass.
 *
 * @param name - shown in the test titles
 * @param make - builds a fresh fixture (own tables or collections) for one test; `prepare()` not yet called
 */
export function statementSinkContract(name: string, make: () => Promise<StatementSinkFixture>): void {
  describe(`StatementSink contract: ${name}`, () => {
    const fixture = useSinkFixture(make);

    const A = digest(0xa);
    const B = digest(0xb);
    const C = digest(0xc);

    it('prepare() can run again, and an empty store knows no digests', async () => {
      const f = await fixture();
      if (f.sink.prepare !== undefined) (await f.sink.prepare())._unsafeUnwrap();
      expect([...(await f.sink.existingDigests([A, B]))._unsafeUnwrap()]).toEqual([]);
      expect([...(await f.sink.existingDigests([]))._unsafeUnwrap()]).toEqual([]);
    });

    it('writes every claim, counts them, and remembers every document, including one without claims', async () => {
      const f = await fixture();
      const claims = [
        claim(A, 'CVE-2025-0001', 'pkg:npm/left-pad@1.3.0', 'not_affected', {
          justification: 'vulnerable_code_not_in_execute_path',
          statement: 'tab\there "quoted" ü',
        }),
        claim(A, 'CVE-2025-0002', 'pkg:npm/left-pad@1.3.0', 'affected'),
        claim(B, 'CVE-2025-0001', 'pkg:npm/left-pad@1.3.0', 'fixed'),
      ];
      const r = (
        await f.sink.commitBatch(batch('run-1', [doc(A, claims.slice(0, 2)), doc(B, claims.slice(2)), doc(C, [])]))
      )._unsafeUnwrap();
      expect(r.claimsWritten).toBe(3);
      expect(await f.claims()).toEqual(rowsOf(claims));
      expect([...(await f.sink.existingDigests([A, B, C, digest(0xd)]))._unsafeUnwrap()].sort()).toEqual([A, B, C].sort());
    });

    it('the same claim identity is stored once: replaying a batch changes nothing', async () => {
      const f = await fixture();
      const claims = [claim(A, 'CVE-1', 'p1'), claim(A, 'CVE-2', 'p1'), claim(B, 'CVE-1', 'p1')];
      const b = batch('run-1', [doc(A, claims.slice(0, 2)), doc(B, claims.slice(2))]);
      (await f.sink.commitBatch(b))._unsafeUnwrap();
      (await f.sink.commitBatch(b))._unsafeUnwrap();
      expect(await f.claims()).toEqual(rowsOf(claims));
    });

    it('force replaces exactly the batch documents’ claims and leaves other documents alone', async () => {
      const f = await fixture();
      const before = [claim(A, 'CVE-1', 'p1'), claim(A, 'CVE-2', 'p1'), claim(B, 'CVE-1', 'p1', 'affected')];
      (await f.sink.commitBatch(batch('run-1', [doc(A, before.slice(0, 2)), doc(B, before.slice(2))])))._unsafeUnwrap();
      const replaced = [claim(A, 'CVE-2', 'p1', 'fixed', { statement: 'patched' }), claim(A, 'CVE-3', 'p2', 'under_investigation')];
      const r = (await f.sink.commitBatch(batch('run-2', [doc(A, replaced)], { force: true })))._unsafeUnwrap();
      expect(r.claimsWritten).toBe(2);
      expect(await f.claims()).toEqual(rowsOf([...replaced, before[2]!]));
    });

    it('force with no claims removes the document’s claims but keeps it recorded', async () => {
      const f = await fixture();
      (await f.sink.commitBatch(batch('run-1', [doc(A, [claim(A, 'CVE-1', 'p1')]), doc(B, [claim(B, 'CVE-1', 'p1')])])))._unsafeUnwrap();
      (await f.sink.commitBatch(batch('run-2', [doc(A, [])], { force: true })))._unsafeUnwrap();
      expect(await f.claims()).toEqual(rowsOf([claim(B, 'CVE-1', 'p1')]));
      expect([...(await f.sink.existingDigests([A]))._unsafeUnwrap()]).toEqual([A]);
    });

    it('replaying a forced batch gives the same final state', async () => {
      const f = await fixture();
      (await f.sink.commitBatch(batch('run-1', [doc(A, [claim(A, 'CVE-1', 'p1'), claim(A, 'CVE-9', 'p9')])])))._unsafeUnwrap();
      const forced = batch('run-2', [doc(A, [claim(A, 'CVE-1', 'p1', 'fixed')])], { force: true });
      (await f.sink.commitBatch(forced))._unsafeUnwrap();
      const once = await f.claims();
      (await f.sink.commitBatch(forced))._unsafeUnwrap();
      expect(await f.claims()).toEqual(once);
      expect(once).toEqual(rowsOf([claim(A, 'CVE-1', 'p1', 'fixed')]));
    });

    it('a batch of failures only (no documents) commits its checkpoint', async () => {
      const f = await fixture();
      const failures = [{ digest: A, code: 'NO_NORMALIZER' as const, message: 'no normalizer recognises it' }];
      (await f.sink.commitBatch(batch('run-f', [], { failures })))._unsafeUnwrap();
      const cp = (await f.sink.loadCheckpoint('run-f'))._unsafeUnwrap();
      expect(cp?.failed).toEqual(failures);
      expect(await f.claims()).toEqual([]);
    });
  });
}
