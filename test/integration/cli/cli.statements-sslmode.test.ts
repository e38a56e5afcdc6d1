/**
 * The planned-run commands (`statements plan`, `worker`, `report`,
 * `backfill --workers`) read `sslmode` and `PGSSLMODE` as libpq does, like
 * every other command: their job engine connects with the CLI's SSL
 * settings, not the driver's reading of the URL.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../support/pg.js';
import { PgRawDocumentSource } from '../../../src/statements/pg-raw-document-source.js';
import { generateVexDocuments } from '../../../src/testing/vex-documents.js';
import { cli } from './cli-harness.js';

let db: TestDatabase;
let sslOn = false;

beforeAll(async () => {
  db = await createTestDatabase();
  sslOn = (await db.query<{ ssl: string }>('SHOW ssl'))[0]?.ssl === 'on';
  const source = new PgRawDocumentSource({ pg: db.url });
  (await source.prepare())._unsafeUnwrap();
  const docs = [...generateVexDocuments({ seed: 5, count: 6, brokenRatio: 0 })];
  (
    await source.append(docs.map((d, i) => ({ digest: d.digest, retrievedAt: `2024-01-0${i + 1}T00:00:00Z`, content: d.content })))
  )._unsafeUnwrap();
  await source.close();
});
afterAll(async () => {
  await db?.drop();
});

const withMode = (url: string, mode: string): string => {
  const u = new URL(url);
  u.searchParams.set('sslmode', mode);
  return u.toString();
};

describe('planned runs and sslmode', () => {
  it('PGSSLMODE=prefer: plan, worker --until-done and report reach a server without SSL, as psql does', async (ctx) => {
    if (sslOn) ctx.skip('skipped: this server has ssl on; these cases need a server without SSL');
    const env = { PGURI: db.url, PGSSLMODE: 'prefer' };
    const plan = await cli(['statements', 'plan', '--run-id', 'env-prefer', '--range-size', '2'], { env });
    expect(plan.code, plan.stderr).toBe(0);
    const worker = await cli(['statements', 'worker', '--until-done', '--run-id', 'env-prefer'], { env });
    expect(worker.code, worker.stderr).toBe(0);
    const report = await cli(['statements', 'report', '--run-id', 'env-prefer'], { env });
    expect(report.code, report.stderr).toBe(0);
    expect(plan.stderr + worker.stderr + report.stderr).not.toContain('SECURITY WARNING');
  }, 120_000);

  it('sslmode=allow in the --pg URL: backfill --workers 2 reaches a server without SSL', async (ctx) => {
    if (sslOn) ctx.skip('skipped: this server has ssl on; these cases need a server without SSL');
    const r = await cli(['statements', 'backfill', '--run-id', 'url-allow', '--workers', '2', '--pg', withMode(db.url, 'allow')]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).not.toContain('SECURITY WARNING');
  }, 120_000);

  it('sslmode=require still refuses a server without SSL (exit 6); an sslmode libpq does not know is a usage error (exit 2)', async (ctx) => {
    if (sslOn) ctx.skip('skipped: this server has ssl on; these cases need a server without SSL');
    const required = await cli(['statements', 'report', '--run-id', 'env-prefer', '--pg', withMode(db.url, 'require')]);
    expect(required.code, required.stderr).toBe(6);
    expect(required.stderr).toMatch(/SSL/);
    const unknown = await cli(['statements', 'plan', '--run-id', 'typo'], { env: { PGURI: db.url, PGSSLMODE: 'prefered' } });
    expect(unknown.code, unknown.stderr).toBe(2);
    expect(unknown.stderr).toContain('PGSSLMODE');
  }, 120_000);
});
