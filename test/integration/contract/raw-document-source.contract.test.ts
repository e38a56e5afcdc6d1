/**
 * Runs the RawDocumentSource contract against PostgreSQL (always) and
 * MongoDB (only with BACKFILL_KIT_MONGODB_URL).
 */
import { describe } from 'vitest';
import { PgRawDocumentSource } from '../../../src/statements/pg-raw-document-source.js';
import { rawDocumentSourceContract } from '../../contract/raw-document-source.contract.js';
import { mongoRawSourceFixture } from '../../contract/mongodb-fixtures.js';
import { mongoSuiteTitle, mongoUrl, uniqueName, useMongoClient, usePgDatabase } from '../../contract/support.js';

describe('PostgreSQL', () => {
  const database = usePgDatabase();

  rawDocumentSourceContract('PgRawDocumentSource', async () => {
    const schema = uniqueName('raw');
    const source = new PgRawDocumentSource({ pg: database().pool, table: `${schema}.raw_documents` });
    (await source.prepare())._unsafeUnwrap();
    return {
      source,
      append: async (docs) => {
        (await source.append(docs))._unsafeUnwrap();
      },
      cleanup: async () => {
        await source.close();
        await database().query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      },
    };
  });
});

describe.skipIf(mongoUrl === undefined)(mongoSuiteTitle('MongoDB'), () => {
  const mongo = useMongoClient();

  rawDocumentSourceContract('MongoRawDocumentSource', async () => {
    const db = mongo().db(uniqueName('bk_raw'));
    return mongoRawSourceFixture(db, async () => void (await db.dropDatabase()));
  });
});
