/**
 * Runs the StagingTarget contract against PostgreSQL (always) and MongoDB
 * (only with BACKFILL_KIT_MONGODB_URL: no MongoDB server can run here, and
 * no fake counts as coverage).
 */
import { BSON } from 'mongodb';
import { describe } from 'vitest';
import { PgStagingTarget } from '../../../src/staging/pg-staging-target.js';
import { MongoStagingTarget } from '../../../src/mongodb/mongo-staging-target.js';
import { mongoIdText } from '../../../src/mongodb/extended-json-id.js';
import { stagingTargetContract } from '../../contract/staging-target.contract.js';
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
    const target = MongoStagingTarget.create({ db, collections: ['alpha', 'beta'], batchSize: 2, insertionWorkers: 2 })._unsafeUnwrap();
    const docs = (table: string): Promise<BSON.Document[]> => db.collection(table).find({}).toArray();
    return {
      target,
      tables: ['alpha', 'beta'],
      liveIds: async (table) => (await docs(table)).map((d) => mongoIdText(d._id) ?? '?').sort(),
      liveRecord: async (table, id) => {
        const doc = (await docs(table)).find((d) => mongoIdText(d._id) === id);
        return doc === undefined ? undefined : JSON.parse(BSON.EJSON.stringify(doc, { relaxed: true }));
      },
      cleanup: async () => {
        await db.dropDatabase();
      },
    };
  });
});
