/**
 * StatementBackfiller end to end over a source and sink pair, as the statements runbook runs it:
 * the same counters, sentence and report hash whatever the store.
 */
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { StatementBackfiller, type StatementBackfillOptions } from '../../src/statements/statement-backfiller.js';
import { defaultVexNormalizers } from '../../src/statements/defaults.js';
import type { BackfillSummary } from '../../src/statements/summary.js';
import type { RawDocumentSource, StatementSink } from '../../src/statements/ports.js';
import { generateVexDocuments, type GeneratedVexDocument } from '../../src/testing/vex-documents.js';
import type { SeedDocument } from './raw-document-source.contract.js';
import type { ClaimRow } from './statement-fixtures.js';

/** A source and a sink over one fresh store, an oracle for the claims, and a way to fill the source. */
export interface StatementBackfillFixture {
  readonly source: RawDocumentSource;
  readonly sink: StatementSink;
  append(documents: readonly SeedDocument[]): Promise<void>;
  claims(): Promise<ClaimRow[]>;
  cleanup(): Promise<void>;
}

async function run(bf: StatementBackfiller, options: StatementBackfillOptions): Promise<BackfillSummary> {
  const r = await bf.run(options);
  if (r.isErr()) throw r.error;
  return r.value;
}

function tail(docs: readonly GeneratedVexDocument[]): { backfilled: number; claims: number; failures: number } {
  const good = docs.filter((d) => d.kind !== 'broken');
  return { backfilled: good.length, claims: good.reduce((n, d) => n + d.expectedClaims, 0), failures: docs.length - good.length };
}

/**
 * The assertions a source/sink pair must pass under StatementBackfiller.
 *
 * @param name - shown in the test titles
 * @param make - builds a fresh, empty fixture for one test; `prepare()` not yet called
 */
export function statementBackfillContract(name: string, make: () => Promise<StatementBackfillFixture>): void {
  describe(`StatementBackfiller over ${name}`, () => {
    let docs: GeneratedVexDocument[];
    const open: StatementBackfillFixture[] = [];
    beforeAll(() => {
      // Whole-millisecond times: the precision every store keeps.
      docs = [...generateVexDocuments({ seed: 40, count: 180, brokenRatio: 0.05, spacingMs: 1000 })];
    });
    const fixture = async (): Promise<{ f: StatementBackfillFixture; bf: StatementBackfiller }> => {
      const f = await make();
      open.push(f);
      await f.append(docs.map((d) => ({ digest: d.digest, retrievedAt: d.retrievedAt, content: d.content })));
      return { f, bf: new StatementBackfiller({ source: f.source, sink: f.sink, normalizers: defaultVexNormalizers }) };
    };
    afterEach(async () => {
      for (const f of open.splice(0)) await f.cleanup();
    });

    it('backfills, skips on rerun, and replaces under force with the same claims (the summary sentences of the statements runbook)', async () => {
      const { f, bf } = await fixture();
      const t = tail(docs);
      const first = await run(bf, { runId: 'first', batchSize: 50 });
      expect(first.text).toBe(
        `Backfill completed: evaluated ${docs.length}, backfilled ${t.backfilled}, claims written ${t.claims}, skipped 0, failures ${t.failures}.`,
      );
      const stored = await f.claims();
      expect(stored).toHaveLength(t.claims);
      const again = await run(bf, { runId: 'second', batchSize: 50 });
      expect(again.text).toBe(
        `Backfill completed: evaluated ${docs.length}, backfilled 0, claims written 0, skipped ${t.backfilled}, failures ${t.failures}.`,
      );
      const forced = await run(bf, { runId: 'forced', force: true, batchSize: 64 });
      expect(forced.text).toBe(
        `Backfill completed: evaluated ${docs.length}, backfilled ${t.backfilled}, claims written ${t.claims}, skipped 0, failures ${t.failures}.`,
      );
      expect(await f.claims()).toEqual(stored);
    });

    it('an aborted run resumes from its checkpoint to the same end state and report hash as an uninterrupted one', async () => {
      const { f, bf } = await fixture();
      const controller = new AbortController();
      const r = await bf.run({
        runId: 'cut',
        batchSize: 30,
        signal: controller.signal,
        onProgress: (p) => {
          if (p.batches === 2) controller.abort();
        },
      });
      expect(r.isErr() && r.error.code).toBe('ABORTED');
      const done = await run(bf, { runId: 'cut', batchSize: 30 });
      expect(done.resumed).toBe(true);
      // The same run, uninterrupted, in a store of its own.
      const ref = await fixture();
      const reference = await run(ref.bf, { runId: 'cut', batchSize: 30 });
      expect(done.text).toBe(reference.text);
      expect(done.reportSha256).toBe(reference.reportSha256);
      expect(await f.claims()).toEqual(await ref.f.claims());
    });
  });
}
