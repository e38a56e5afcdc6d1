import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PgRawDocumentSource } from '../../../src/statements/index.js';
import { generateVexDocuments } from '../../../src/testing/index.js';
import { createTestDatabase, type TestDatabase } from '../../support/pg.js';
import { seedDocuments } from '../statements/helpers.js';
import { runExample, showRun as show, startExample } from './run-example.js';

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

/*
 * Ctrl-C (or a supervisor's SIGTERM) stops the run between batches; it
 * exited 1, as for a run that failed, where `backfill-kit statements
 * backfill` exits 130. It now exits 130 too, naming the run id to resume
 * with, and the run resumes with it.
 */
describe('backfill-statements.ts interrupted', () => {
  it.for(['SIGINT', 'SIGTERM'] as const)(
    '%s: exit 130 naming the run id; the run resumes with it',
    { timeout: 180_000 },
    async (signal) => {
      const own = await createTestDatabase();
      try {
        await seedDocuments(own.url, { seed: 5, count: 5000, brokenRatio: 0 });
        const runId = `interrupted-${signal}`;
        const child = startExample('backfill-statements.ts', ['--pg', own.url, '--batch-size', '50', '--run-id', runId]);
        let stderr = '';
        let signalled = false;
        child.stdout!.resume();
        child.stderr!.setEncoding('utf8').on('data', (d: string) => {
          stderr += d;
          // Once batches are committing, well before the last one.
          if (!signalled && /^batch 2:/m.test(stderr)) {
            signalled = true;
            child.kill(signal);
          }
        });
        const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
        expect(signalled, stderr).toBe(true);
        expect(code, stderr).toBe(130);
        expect(stderr).toContain(`(resume with --run-id ${runId})`);
        const resumed = await runExample('backfill-statements.ts', ['--pg', own.url, '--run-id', runId]);
        expect(resumed.code, show(resumed)).toBe(0);
        expect(resumed.stdout).toContain('Backfill completed: evaluated 5000');
      } finally {
        await own.drop();
      }
    },
  );
});
