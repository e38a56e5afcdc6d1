/**
 * A retention run that drops some expired partitions and then fails on one
 * PostgreSQL refuses to drop (a view depends on it) says what it dropped
 * and does not say that nothing was committed: its `DB_ERROR` fix line
 * did, after two months were gone, and printed nothing of what it had
 * done, so an operator reading it would look for months that no longer exist.
 */
import { describe, expect, it } from 'vitest';
import type { TestDatabase } from '../../support/pg.js';
import { cli, jsonOf } from '../cli/cli-harness.js';
import { catalogBounds, useScannerDatabase } from './fixtures.js';

let db: TestDatabase;
const NOW = ['--now', '2026-11-23T10:00:00Z'];

useScannerDatabase((created) => (db = created));

/** Sixteen months, 2025-08 to 2026-11, made by the CLI. */
async function history(): Promise<void> {
  const ensured = await cli(['partitions', 'ensure', '--ahead', '0', '--behind', '15', ...NOW, '--quiet'], { env: { PGURI: db.url } });
  expect(ensured.code, ensured.stderr).toBe(0);
}

describe('partitions retention failing part-way', () => {
  it('lists what it dropped before the failure, and its fix line does not say nothing was committed', async () => {
    await history();
    await db.query('CREATE VIEW scanner.september AS SELECT * FROM scanner.artifact_boms_2025_09');

    const r = await cli(['partitions', 'retention', '12', 'false', ...NOW], { env: { PGURI: db.url } });
    expect(r.code).not.toBe(0);
    const out = `${r.stdout}\n${r.stderr}`;
    expect(out).toContain('error DB_ERROR');
    expect(out).toContain('dropped artifact_boms_2025_08 [2025-08-01, 2025-09-01) before the failure');
    expect(out).toContain('dropped artifact_boms_2025_10 [2025-10-01, 2025-11-01) before the failure');
    expect(out).not.toMatch(/nothing was committed/i);
    expect(out).toMatch(/fix: +Read the SQLSTATE and message: what is listed above as done before the failure was committed/);
    const left = [...(await catalogBounds(db, 'scanner', 'artifact_boms')).keys()];
    expect(left).toContain('artifact_boms_2025_09');
    expect(left).not.toContain('artifact_boms_2025_08');

    // --json says it too, beside the report of what was done.
    await db.query('DROP VIEW scanner.september; CREATE VIEW scanner.september AS SELECT * FROM scanner.artifact_boms_2025_11');
    const json = jsonOf(await cli(['partitions', 'retention', '11', 'false', ...NOW, '--json'], { env: { PGURI: db.url } }));
    expect(json.error?.code).toBe('DB_ERROR');
    expect(json.error?.fix).not.toMatch(/nothing was committed/i);
  });

  it('a failure before anything was done keeps the usual fix line', async () => {
    await history();
    await db.query('CREATE VIEW scanner.august AS SELECT * FROM scanner.artifact_boms_2025_08');
    const r = await cli(['partitions', 'retention', '14', 'false', ...NOW], { env: { PGURI: db.url } });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('nothing was committed');
    expect(`${r.stdout}${r.stderr}`).not.toContain('before the failure');
  });
});
