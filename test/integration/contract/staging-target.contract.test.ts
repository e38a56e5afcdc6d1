/**
 * Runs the StagingTarget contract against PostgreSQL (always) and MongoDB
 * (only with BACKFILL_KIT_MONGODB_URL; test/unit/mongodb runs the same
 * contract against the recording driver fake, which proves the documented
 * semantics, not a server).
 */
import { describe } from 'vitest';
import { PgStagingTarget } from '../../../src/staging/pg-staging-target.js';
import { stagingTargetContract } from '../../contract/staging-target.contract.js';
import { mongoStagingFixture } from '../../contract/mongodb-fixtures.js';
import { mongoSuiteTitle, mongoUrl, uniqueName, useMongoClient, usePgDatabase } from '../../contract/support.js';

describe('PostgreSQL', () => {
  const database = usePgDatabase();

  stagingTargetContract('PgStagingTarget', async () => {
    const schema = uniqueName('st');
    const target = new PgStagingTarget({ pg: database().pool, schema, tables: ['alpha', 'beta'] });
    const rowsOf = async <R extends Record<string, unknown>>(sql: string, values: unknown[] = []): Promise<R[]> => {
      try {
        return (await database().query(sql, values)) as R[];
      } catch (error) {
        if ((error as { code?: string }).code === '42P01') return [];
        throw error;
      }
    };
    return {
      target,
      tables: ['alpha', 'beta'],
      liveIds: async (table) => (await rowsOf<{ id: string }>(`SELECT id FROM "${schema}"."${table}"`)).map((r) => r.id).sort(),
      liveRecord: async (table, id) =>
        (await rowsOf<{ raw: unknown }>(`SELECT raw FROM "${schema}"."${table}" WHERE id = $1`, [id]))[0]?.raw,
      liveIdentity: async (table) =>
        (
          await rowsOf<{ oid: string }>(
            'SELECT c.oid::text AS oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relname = $2',
            [schema, table],
          )
        )[0]?.oid,
      cleanup: async () => {
        await target.close();
        await database().query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      },
    };
  });
});

describe.skipIf(mongoUrl === undefined)(mongoSuiteTitle('MongoDB'), () => {
  const mongo = useMongoClient();

  stagingTargetContract('MongoStagingTarget', async () => {
    const db = mongo().db(uniqueName('bk_st'));
    return mongoStagingFixture(db, async () => void (await db.dropDatabase()));
  });
});
