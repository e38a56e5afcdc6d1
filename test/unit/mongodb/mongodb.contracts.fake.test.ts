/**
 * The shared contract suites, run against the MongoDB adapters over the
 * recording driver fake. This proves the adapters against the documented
 * server semantics the fake reproduces, in CI; it is not a substitute for
 * the same suites against a real server (test/integration/contract, with
 * BACKFILL_KIT_MONGODB_URL).
 */
import { BSON, type Db, type MongoClient } from 'mongodb';
import { describe } from 'vitest';
import { MongoStagingTarget } from '../../../src/mongodb/mongo-staging-target.js';
import { MongoStatementSink, type MongoTransactionMode } from '../../../src/mongodb/mongo-statement-sink.js';
import { MongoRawDocumentSource } from '../../../src/mongodb/mongo-raw-document-source.js';
import { mongoIdText } from '../../../src/mongodb/extended-json-id.js';
import { stagingTargetContract } from '../../contract/staging-target.contract.js';
import { statementSinkContract } from '../../contract/statement-sink.contract.js';
import { checkpointStoreContract } from '../../contract/checkpoint-store.contract.js';
import { statementBackfillContract } from '../../contract/statement-backfill.contract.js';
import { rawDocumentSourceContract } from '../../contract/raw-document-source.contract.js';
import { sortRows, type ClaimRow } from '../../contract/statement-fixtures.js';
import { FakeMongo } from '../../support/recording-mongo-fake.js';

const TITLE = 'against the documented semantics (recording driver fake, not a server)';

function fakeDb(topology: 'replicaSet' | 'standalone' = 'replicaSet'): { fake: FakeMongo; db: Db; client: MongoClient } {
  const fake = new FakeMongo({ topology });
  return { fake, db: fake.db() as unknown as Db, client: fake.client as unknown as MongoClient };
}

const claimsOf = async (db: Db): Promise<ClaimRow[]> =>
  sortRows(
    (await db
      .collection('statements')
      .find(
        {},
        {
          projection: {
            _id: 0,
            documentDigest: 1,
            vulnerabilityId: 1,
            productKey: 1,
            status: 1,
            justification: 1,
            statement: 1,
            format: 1,
          },
        },
      )
      .toArray()) as unknown as ClaimRow[],
  );

const nothing = async (): Promise<void> => {};

describe(`MongoStagingTarget ${TITLE}`, () => {
  stagingTargetContract('MongoStagingTarget', async () => {
    const { db } = fakeDb();
    const target = MongoStagingTarget.create({
      db,
      collections: ['alpha', 'beta'],
      batchSize: 2,
      insertionWorkers: 2,
      retryDelayMs: 1,
    })._unsafeUnwrap();
    const docs = (table: string): Promise<BSON.Document[]> => db.collection(table).find({}).toArray();
    return {
      target,
      tables: ['alpha', 'beta'],
      liveIds: async (table) => (await docs(table)).map((d) => mongoIdText(d._id) ?? '?').sort(),
      liveRecord: async (table, id) => {
        const doc = (await docs(table)).find((d) => mongoIdText(d._id) === id);
        return doc === undefined ? undefined : JSON.parse(BSON.EJSON.stringify(doc, { relaxed: true }));
      },
      cleanup: nothing,
    };
  });
});

describe(`MongoRawDocumentSource ${TITLE}`, () => {
  rawDocumentSourceContract('MongoRawDocumentSource', async () => {
    const { db } = fakeDb();
    const source = new MongoRawDocumentSource({ db });
    (await source.prepare())._unsafeUnwrap();
    return {
      source,
      append: async (docs) => {
        (await source.append(docs))._unsafeUnwrap();
      },
      cleanup: nothing,
    };
  });
});

describe.each([
  ['replica set, transactions', 'replicaSet', 'auto'],
  ['standalone, idempotent sequence', 'standalone', 'auto'],
  ['replica set, transactions: never', 'replicaSet', 'never'],
] as const)(`MongoStatementSink (%s) ${TITLE}`, (_name, topology, transactions: MongoTransactionMode) => {
  const sinkOf = (db: Db, client: MongoClient) => new MongoStatementSink({ db, client, transactions, retryDelayMs: 1 });

  statementSinkContract('MongoStatementSink', async () => {
    const { db, client } = fakeDb(topology);
    return { sink: sinkOf(db, client), claims: () => claimsOf(db), cleanup: nothing };
  });

  checkpointStoreContract('MongoStatementSink', async () => {
    const { db, client } = fakeDb(topology);
    return { sink: sinkOf(db, client), store: sinkOf(db, client), cleanup: nothing };
  });

  statementBackfillContract('MongoRawDocumentSource + MongoStatementSink', async () => {
    const { db, client } = fakeDb(topology);
    const source = new MongoRawDocumentSource({ db });
    (await source.prepare())._unsafeUnwrap();
    return {
      source,
      sink: sinkOf(db, client),
      append: async (docs) => {
        (await source.append(docs))._unsafeUnwrap();
      },
      claims: () => claimsOf(db),
      cleanup: nothing,
    };
  });
});
