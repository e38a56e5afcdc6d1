/**
 * The shared contract suites, run against the MongoDB adapters over the
 * recording driver fake. This proves the adapters against the documented
 * server semantics the fake reproduces, in CI; it is not a substitute for
 * the same suites against a real server (test/integration/contract, with
 * BACKFILL_KIT_MONGODB_URL).
 */
import type { Db, MongoClient } from 'mongodb';
import { describe } from 'vitest';
import { MongoStatementSink, type MongoTransactionMode } from '../../../src/mongodb/mongo-statement-sink.js';
import { stagingTargetContract } from '../../contract/staging-target.contract.js';
import { statementSinkContract } from '../../contract/statement-sink.contract.js';
import { checkpointStoreContract } from '../../contract/checkpoint-store.contract.js';
import { statementBackfillContract } from '../../contract/statement-backfill.contract.js';
import { rawDocumentSourceContract } from '../../contract/raw-document-source.contract.js';
import { mongoBackfillFixture, mongoClaims, mongoRawSourceFixture, mongoStagingFixture } from '../../contract/mongodb-fixtures.js';
import { FakeMongo } from '../../support/recording-mongo-fake.js';

const TITLE = 'against the documented semantics (recording driver fake, not a server)';

function fakeDb(topology: 'replicaSet' | 'standalone' = 'replicaSet'): { fake: FakeMongo; db: Db; client: MongoClient } {
  const fake = new FakeMongo({ topology });
  return { fake, db: fake.db() as unknown as Db, client: fake.client as unknown as MongoClient };
}

const nothing = async (): Promise<void> => {};

describe(`MongoStagingTarget ${TITLE}`, () => {
  stagingTargetContract('MongoStagingTarget', async () => mongoStagingFixture(fakeDb().db, nothing, { retryDelayMs: 1 }));
});

describe(`MongoRawDocumentSource ${TITLE}`, () => {
  rawDocumentSourceContract('MongoRawDocumentSource', () => mongoRawSourceFixture(fakeDb().db, nothing));
});

describe.each([
  ['replica set, transactions', 'replicaSet', 'auto'],
  ['standalone, idempotent sequence', 'standalone', 'auto'],
  ['replica set, transactions: never', 'replicaSet', 'never'],
] as const)(`MongoStatementSink (%s) ${TITLE}`, (_name, topology, transactions: MongoTransactionMode) => {
  const sinkOf = (db: Db, client: MongoClient) => new MongoStatementSink({ db, client, transactions, retryDelayMs: 1 });

  statementSinkContract('MongoStatementSink', async () => {
    const { db, client } = fakeDb(topology);
    return { sink: sinkOf(db, client), claims: () => mongoClaims(db), cleanup: nothing };
  });

  checkpointStoreContract('MongoStatementSink', async () => {
    const { db, client } = fakeDb(topology);
    return { sink: sinkOf(db, client), store: sinkOf(db, client), cleanup: nothing };
  });

  statementBackfillContract('MongoRawDocumentSource + MongoStatementSink', async () => {
    const { db, client } = fakeDb(topology);
    return mongoBackfillFixture(db, sinkOf(db, client), nothing);
  });
});
