/**
 * Runs the RawDocumentSource contract against PostgreSQL (always) and
 * MongoDB (only with BACKFILL_KIT_MONGODB_URL).
 */
import { MongoClient } from 'mongodb';
import { afterAll, beforeAll, describe } from 'vitest';
import { PgRawDocumentSource } from '../../../src/statements/pg-raw-document-source.js';
import { MongoRawDocumentSource } from '../../../src/mongodb/mongo-raw-document-source.js';
import { createTestDatabase, type TestDatabase } from '../../support/pg.js';
import { rawDocumentSourceContract } from '../../contract/raw-document-source.contract.js';
import { mongoSuiteTitle, mongoUrl, uniqueName } from '../../contract/support.js';

describe('PostgreSQL', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase();
  });
  afterAll(async () => {
    await db?.drop();
  });

  rawDocumentSourceContract('PgRawDocumentSource', async () => {
    const schema = uniqueName('raw');
    const source = new PgRawDocumentSource({ pg: db.pool, table: `${schema}.raw_documents` });
    (await source.prepare())._unsafeUnwrap();
    return {
      source,
      append: async (docs) => {
        (await source.append(docs))._unsafeUnwrap();
      },
      cleanup: async () => {
        await source.close();
        await db.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      },
    };
  });
});

describe.skipIf(mongoUrl === undefined)(mongoSuiteTitle('MongoDB'), () => {
  let client: MongoClient;
  beforeAll(async () => {
    client = await MongoClient.connect(mongoUrl!);
  });
  afterAll(async () => {
    await client?.close();
  });

  rawDocumentSourceContract('MongoRawDocumentSource', async () => {
    const db = client.db(uniqueName('bk_raw'));
    const source = new MongoRawDocumentSource({ db });
    (await source.prepare())._unsafeUnwrap();
    return {
      source,
      append: async (docs) => {
        (await source.append(docs))._unsafeUnwrap();
      },
      cleanup: async () => {
        await db.dropDatabase();
      },
    };
  });
});
