/**
 * A single-process `statements backfill` that stops on an error halfway
 * (the database rejects a batch, the connection is lost) printed what it
 * had committed and the run id, and the error's generic fix ("check the
 * connection string"), but not that the run resumes, nor with which flags:
 * a run started without --run-id has a random id, and a resume must repeat
 * its --retrieved-since, --force and --max-documents (and the table flags).
 * It now prints the command that resumes it, and that command does, with a
 * run id a shell would split or unquote in single quotes.
 */
import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../support/pg.js';
import { psql, seedDocuments } from '../statements/helpers.js';
import { cli } from './cli-harness.js';

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
  await seedDocuments(db.url, { seed: 3, count: 300, brokenRatio: 0 });
});
afterAll(async () => {
  await db?.drop();
});

describe('statements backfill stopped by an error', () => {
  it('prints the command that resumes the run, with its options and table flags', async () => {
    const tables = ['--statements-table', 'st.claims', '--documents-table', 'st.docs'];
    const env = { PGURI: db.url };
    // Creates the tables (one document), so a trigger can reject a later batch.
    const warm = await cli(['statements', 'backfill', '--max-documents', '1', ...tables], { env });
    expect(warm.code, warm.stderr).toBe(0);
    const victim = psql(db.url, 'SELECT digest FROM vex.raw_documents ORDER BY retrieved_at, digest OFFSET 150 LIMIT 1');
    await db.query(`CREATE FUNCTION public.refuse() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN IF NEW.document_digest = '${victim}' THEN RAISE EXCEPTION 'refused by the test'; END IF; RETURN NEW; END $$`);
    await db.query('CREATE TRIGGER refuse BEFORE INSERT ON st.docs FOR EACH ROW EXECUTE FUNCTION public.refuse()');

    const since = '2000-01-01T00:00:00.000Z';
    const stopped = await cli(['statements', 'backfill', '--retrieved-since', since, '--batch-size', '50', ...tables], { env });
    expect(stopped.code, stopped.stderr).not.toBe(0);
    const output = stopped.stdout + stopped.stderr;
    expect(output).toContain('Backfill stopped: evaluated 150');
    const runId = /run id: (\S+)/.exec(output)?.[1];
    expect(runId).toBeDefined();
    const command = `statements backfill --run-id ${runId} --retrieved-since ${since} --statements-table st.claims --documents-table st.docs`;
    expect(output).toContain(`Every committed batch is kept; once the cause is fixed, resume the run: ${command}`);

    // A run id a shell would split or unquote is printed so that pasting the command passes it on as it is.
    const named = await cli(['statements', 'backfill', '--run-id', "it's nightly", '--batch-size', '50', ...tables], { env });
    const quoted = /resume the run: statements backfill --run-id (.+?) --statements-table/.exec(named.stdout + named.stderr)?.[1];
    expect(quoted).toBe(`'it'\\''s nightly'`);
    expect(execFileSync('bash', ['-c', `printf '%s' ${quoted}`], { encoding: 'utf8' })).toBe("it's nightly");

    await db.query('DROP TRIGGER refuse ON st.docs');
    const resumed = await cli(command.split(' '), { env });
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(resumed.stdout).toContain('Backfill completed: evaluated 300');
    expect(resumed.stdout).toContain('(resumed from its checkpoint)');
  }, 120_000);
});
