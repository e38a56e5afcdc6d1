/**
 * An `onProgress` that throws is the caller's problem, not a reason to stop
 * the partition work it is told about. `ensure` reported each batch it
 * created: a throw after the first batch left the rest of the window
 * uncreated and the call failed; `retention`, `attach` and `maintain`
 * failed after a step they had already committed.
 */
import { setImmediate as turn } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import type { PartitionProgress } from '../../../src/partitions/index.js';
import type { TestDatabase } from '../../support/pg.js';
import { rejectingProgress, throwingProgress, warningsLogger } from '../../support/throwing-progress.js';
import { collectUnobserved } from '../../support/unobserved.js';
import { artifactBomsManager, catalogBounds, useScannerDatabase } from './fixtures.js';

let db: TestDatabase;
useScannerDatabase((created) => (db = created));
const unobserved = collectUnobserved();

const NOW = '2026-11-23T10:00:00Z';

/** The warnings about the callback: exactly one, naming it. */
function expectOneProgressWarning(warnings: readonly string[]): void {
  expect(warnings.filter((w) => w.includes('onProgress'))).toHaveLength(1);
}

describe('partitions with an onProgress that throws', () => {
  it('ensure creates every partition it plans, batch after batch, and returns ok', async () => {
    const warnings: string[] = [];
    const seen: PartitionProgress[] = [];
    const m = artifactBomsManager(db, NOW, { logger: warningsLogger(warnings) });
    const made = (await m.ensure({ behind: 3, ahead: 3, onProgress: throwingProgress(seen) }))._unsafeUnwrap();
    expect(made.created.map((p) => p.name)).toEqual([
      'artifact_boms_2026_08',
      'artifact_boms_2026_09',
      'artifact_boms_2026_10',
      'artifact_boms_2026_11',
      'artifact_boms_2026_12',
      'artifact_boms_2027_01',
      'artifact_boms_2027_02',
    ]);
    expect(seen.at(-1)).toMatchObject({ phase: 'create', done: 7, total: 7 });
    expect([...(await catalogBounds(db, 'scanner', 'artifact_boms')).keys()]).toHaveLength(7);
    expectOneProgressWarning(warnings);
  });

  it('retention drops every expired partition and marks each done', async () => {
    const m = artifactBomsManager(db, NOW);
    (await m.ensure({ behind: 4, ahead: 0 }))._unsafeUnwrap();
    const warnings: string[] = [];
    const seen: PartitionProgress[] = [];
    const r = (
      await m.retention({ keep: 1, dryRun: false, onProgress: throwingProgress(seen), logger: warningsLogger(warnings) })
    )._unsafeUnwrap();
    expect(r.candidates.map((c) => [c.name, c.done])).toEqual([
      ['artifact_boms_2026_07', true],
      ['artifact_boms_2026_08', true],
      ['artifact_boms_2026_09', true],
    ]);
    expect([...(await catalogBounds(db, 'scanner', 'artifact_boms')).keys()]).toEqual(['artifact_boms_2026_10', 'artifact_boms_2026_11']);
    expect(seen).toHaveLength(3);
    expectOneProgressWarning(warnings);
  });

  it('attach attaches the table and maintain runs every step', async () => {
    const warnings: string[] = [];
    const m = artifactBomsManager(db, NOW, { logger: warningsLogger(warnings) });
    (await m.ensure({ behind: 0, ahead: 0 }))._unsafeUnwrap();
    await db.query(
      'CREATE TABLE scanner.artifact_boms_2025_03 (build_id text NOT NULL, canonical_bom_sha256 text NOT NULL, payload_digest text, inserted_at timestamptz NOT NULL)',
    );
    await db.query("INSERT INTO scanner.artifact_boms_2025_03 VALUES ('r1', 'sha', null, '2025-03-02 00:00:00+00')");
    const attached = (await m.attach('artifact_boms_2025_03', { onProgress: throwingProgress() }))._unsafeUnwrap();
    expect(attached.alreadyAttached).toBe(false);
    expect((await catalogBounds(db, 'scanner', 'artifact_boms')).get('artifact_boms_2025_03')).toBe(
      "FOR VALUES FROM ('2025-03-01 00:00:00+00') TO ('2025-04-01 00:00:00+00')",
    );
    const seen: PartitionProgress[] = [];
    const maintained = (
      await m.maintain('artifact_boms_2025_03', { vacuum: true, analyze: true, reindex: true, onProgress: throwingProgress(seen) })
    )._unsafeUnwrap();
    expect(maintained.steps).toHaveLength(2);
    expect(seen).toHaveLength(2);
    // One warning per call that was given a throwing callback.
    expect(warnings.filter((w) => w.includes('onProgress'))).toHaveLength(2);
  });

  it('an async onProgress that rejects changes nothing, and no rejection goes unhandled', async () => {
    const m = artifactBomsManager(db, NOW);
    const made = (await m.ensure({ behind: 1, ahead: 1, onProgress: rejectingProgress() }))._unsafeUnwrap();
    expect(made.created).toHaveLength(3);
    for (let i = 0; i < 5; i += 1) await turn();
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(unobserved.rejections).toEqual([]);
  });
});
