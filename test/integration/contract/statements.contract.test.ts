/**
 * Runs the StatementSink, CheckpointStore and StatementBackfiller contracts
 * against PostgreSQL (always) and MongoDB (only with BACKFILL_KIT_MONGODB_URL;
 * a replica set exercises the transaction path, a standalone server the
 * idempotent sequence).
 */
import type { Db } from 'mongodb';
import { describe } from 'vitest';
import { PgStatementSink } from '../../../src/statements/pg-statement-sink.js';
import { PgRawDocumentSource } from '../../../src/statements/pg-raw-document-source.js';
import { MongoStatementSink } from '../../../src/mongodb/mongo-statement-sink.js';
import { MongoCheckpointStore } from '../../../src/mongodb/mongo-checkpoint-store.js';
import { statementSinkContract } from '../../contract/statement-sink.contract.js';
import { checkpointStoreContract } from '../../contract/checkpoint-store.contract.js';
import { statementBackfillContract } from '../../contract/statement-backfill.contract.js';
import { mongoBackfillFixture, mongoClaims } from '../../contract/mongodb-fixtures.js';
import { sortRows, type ClaimRow } from '../../contract/statement-fixtures.js';
import { mongoSuiteTitle, mongoUrl, uniqueName, useMongoClient, usePgDatabase } from '../../contract/support.js';

describe('PostgreSQL', () => {
  const database = usePgDatabase();

  function pgSink(schema: string): PgStatementSink {
    return new PgStatementSink({
      pg: database().pool,
      statementsTable: `${schema}.statements`,
      documentsTable: `${schema}.documents`,
      checkpointsTable: `${schema}.checkpoints`,
      failuresTable: `${schema}.failures`,
    });
  }
  const claims = async (schema: string): Promise<ClaimRow[]> =>
    sortRows(
      await database().query<ClaimRow & Record<string, unknown>>(
        `SELECT document_digest AS "documentDigest", vulnerability_id AS "vulnerabilityId", product_key AS "productKey",
                status, justification, statement, format FROM "${schema}".statements`,
      ),
    );
  const drop = (schema: string) => async (): Promise<void> => {
    await database().query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  };

  statementSinkContract('PgStatementSink', async () => {
    const schema = uniqueName('sink');
    return { sink: pgSink(schema), claims: () => claims(schema), cleanup: drop(schema) };
  });

  checkpointStoreContract('PgStatementSink', async () => {
    const schema = uniqueName('cp');
    const sink = pgSink(schema);
    return { sink, store: pgSink(schema), cleanup: drop(schema) };
  });

  statementBackfillContract('PgRawDocumentSource + PgStatementSink', async () => {
    const schema = uniqueName('bf');
    const source = new PgRawDocumentSource({ pg: database().pool, table: `${schema}.raw_documents` });
    (await source.prepare())._unsafeUnwrap();
    return {
      source,
      sink: pgSink(schema),
      append: async (docs) => {
        for (let i = 0; i < docs.length; i += 500) (await source.append(docs.slice(i, i + 500)))._unsafeUnwrap();
      },
      claims: () => claims(schema),
      cleanup: drop(schema),
    };
  });
});

describe.skipIf(mongoUrl === undefined)(mongoSuiteTitle('MongoDB'), () => {
  const mongo = useMongoClient();

  // 'auto' takes the transaction path on a replica set; 'never' always checks the standalone sequence.
  for (const transactions of ['auto', 'never'] as const) {
    const sink = (db: Db): MongoStatementSink => new MongoStatementSink({ db, client: mongo(), transactions });
    const fresh = (prefix: string): { db: Db; cleanup: () => Promise<void> } => {
      const db = mongo().db(uniqueName(prefix));
      return { db, cleanup: async () => void (await db.dropDatabase()) };
    };

    statementSinkContract(`MongoStatementSink (transactions: ${transactions})`, async () => {
      const { db, cleanup } = fresh('bk_sink');
      return { sink: sink(db), claims: () => mongoClaims(db), cleanup };
    });

    checkpointStoreContract(`MongoCheckpointStore (transactions: ${transactions})`, async () => {
      const { db, cleanup } = fresh('bk_cp');
      return { sink: sink(db), store: new MongoCheckpointStore({ db }), cleanup };
    });

    statementBackfillContract(`MongoRawDocumentSource + MongoStatementSink (transactions: ${transactions})`, async () => {
      const { db, cleanup } = fresh('bk_bf');
      return mongoBackfillFixture(db, sink(db), cleanup);
    });
  }
});
