import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PgRawDocumentSource } from '../../../src/statements/index.js';
import { generateVexDocuments } from '../../../src/testing/index.js';
import { createTestDatabase, type TestDatabase } from '../../support/pg.js';
import { runExample, showRun as show } from './run-example.js';

let db: TestDatabase;

beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => {
  await db.drop();
});

describe('backfill-statements.ts with failed documents', () => {
  it('exits 4, as the CLI does, and lists them (it exited 0, so a script chained on it went on)', async () => {
    const source = new PgRawDocumentSource({ pg: db.url });
    (await source.prepare())._unsafeUnwrap();
    const docs = [...generateVexDocuments({ seed: 4, count: 12, brokenRatio: 0.5 })];
    const broken = docs.filter((d) => d.kind === 'broken');
    expect(broken.length).toBeGreaterThan(0);
    (await source.append(docs.map((d) => ({ digest: d.digest, retrievedAt: d.retrievedAt, content: d.content }))))._unsafeUnwrap();
    await source.close();
    const r = await runExample('backfill-statements.ts', ['--pg', db.url, '--run-id', 'with-failures']);
    expect(r.code, show(r)).toBe(4);
    expect(r.stdout).toContain(`failures ${broken.length}.`);
    for (const d of broken) expect(r.stderr).toContain(`failed ${d.digest}: ${d.expectedCode}`);
    expect(r.stderr).toContain(`${broken.length} documents failed and have no statements`);
  }, 120_000);
});
