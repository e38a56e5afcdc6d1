/**
 * A raw documents table whose `content` column holds no document text (an
 * integer, an array), or that lacks one of its columns, used to be read:
 * every document failed on its own as unrecognised (NO_NORMALIZER), and a
 * run over a table pointed at by mistake "completed" with thousands of
 * recorded failures; a missing column failed with PostgreSQL's bare
 * "column does not exist". Such a table is now refused before any batch,
 * naming the table and the column, and nothing is written. The column
 * types that hold text (`text`, `varchar`, `json`, `jsonb`, `bytea`, a
 * domain over one) give the same claims.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../support/pg.js';
import { planBackfill } from '../../../src/statements/distributed-plan.js';
import { defaultVexNormalizers, PgRawDocumentSource, PgStatementSink, StatementBackfiller } from '../../../src/statements/index.js';
import { dumpStatements, psql, seedDocuments, tablesIn } from './helpers.js';

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
  await seedDocuments(db.url, { seed: 11, count: 60, brokenRatio: 0 });
  await db.query('CREATE DOMAIN public.vex_text AS text');
});
afterAll(async () => {
  await db?.drop();
});

/** A copy of the seeded documents in `raw.<name>`, content converted by `expression` to `type`. */
async function copyAs(name: string, type: string, expression: string): Promise<string> {
  await db.query('CREATE SCHEMA IF NOT EXISTS raw');
  await db.query(`CREATE TABLE raw.${name} (digest text PRIMARY KEY, retrieved_at timestamptz NOT NULL, content ${type})`);
  await db.query(`INSERT INTO raw.${name} SELECT digest, retrieved_at, ${expression} FROM vex.raw_documents`);
  return `raw.${name}`;
}

function backfill(table: string, schema: string) {
  const backfiller = new StatementBackfiller({
    source: new PgRawDocumentSource({ pg: db.pool, table }),
    sink: new PgStatementSink({ pg: db.pool, ...tablesIn(schema) }),
    normalizers: defaultVexNormalizers,
  });
  return backfiller.run({ batchSize: 25 });
}

describe('the content column of a raw documents table', () => {
  it.for([
    { name: 'int_content', type: 'integer', expression: '1', shown: 'integer' },
    { name: 'array_content', type: 'text[]', expression: 'ARRAY[content]', shown: 'text[]' },
  ])('of type $type is refused before any batch, by a run and by a plan', async ({ name, type, expression, shown }) => {
    const table = await copyAs(name, type, expression);
    const result = await backfill(table, `s_${name}`);
    const error = result._unsafeUnwrapErr();
    expect(error.code).toBe('INVALID_ARGUMENT');
    expect(error.message).toContain(`"raw"."${name}": column content is ${shown}, not text, varchar, json, jsonb or bytea`);
    expect(psql(db.url, `SELECT to_regclass('s_${name}.documents') IS NULL OR (SELECT count(*) = 0 FROM s_${name}.documents)`)).toBe('t');
    const planned = await planBackfill({ connectionString: db.url, tables: { raw: table, runs: `p_${name}.runs` } }, { runId: name });
    expect(planned._unsafeUnwrapErr().message).toContain(`column content is ${shown}`);
  });

  it('missing is refused, naming the table and the column', async () => {
    await db.query('CREATE TABLE raw.no_content (digest text PRIMARY KEY, retrieved_at timestamptz NOT NULL, body text)');
    await db.query('INSERT INTO raw.no_content SELECT digest, retrieved_at, content FROM vex.raw_documents');
    const error = (await backfill('raw.no_content', 's_no_content'))._unsafeUnwrapErr();
    expect(error.code).toBe('INVALID_ARGUMENT');
    expect(error.message).toContain('"raw"."no_content" has no column content');
  });

  it('of a text type gives the same claims as text', async () => {
    (await backfill('vex.raw_documents', 's_text'))._unsafeUnwrap();
    const expected = dumpStatements(db.url, 's_text.statements');
    expect(expected.split('\n').length).toBeGreaterThan(60);
    for (const [name, type, expression] of [
      ['as_varchar', 'varchar', 'content'],
      ['as_domain', 'public.vex_text', 'content'],
      ['as_json', 'json', 'content::json'],
      ['as_jsonb', 'jsonb', 'content::jsonb'],
      ['as_bytea', 'bytea', "convert_to(content, 'UTF8')"],
    ] as const) {
      const table = await copyAs(name, type, expression);
      (await backfill(table, `s_${name}`))._unsafeUnwrap();
      expect(dumpStatements(db.url, `s_${name}.statements`), type).toBe(expected);
    }
  });
});
