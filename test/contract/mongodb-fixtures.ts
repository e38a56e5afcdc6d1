/**
 * The MongoDB adapters' contract fixtures, one set for both databases they
 * run against: the recording driver fake (test/unit/mongodb) and a real
 * server (test/integration/contract, with BACKFILL_KIT_MONGODB_URL). Each
 * oracle reads the database with the driver, never through the adapter.
 */
import { BSON, type Db } from 'mongodb';
import { MongoRawDocumentSource } from '../../src/mongodb/mongo-raw-document-source.js';
import { MongoStagingTarget, type MongoStagingTargetConfig } from '../../src/mongodb/mongo-staging-target.js';
import type { StatementSink } from '../../src/statements/ports.js';
import { mongoIdText } from '../../src/mongodb/extended-json-id.js';
import type { StagingTargetFixture } from './staging-target.contract.js';
import type { RawDocumentSourceFixture } from './raw-document-source.contract.js';
import type { StatementBackfillFixture } from './statement-backfill.contract.js';
import { sortRows, type ClaimRow } from './statement-fixtures.js';

/** A MongoStagingTarget over `alpha` and `beta` in `db`, with oracles that read the collections directly. */
export function mongoStagingFixture(
  db: Db,
  cleanup: () => Promise<void>,
  config: Partial<MongoStagingTargetConfig> = {},
): StagingTargetFixture {
  const target = new MongoStagingTarget({ db, collections: ['alpha', 'beta'], batchSize: 2, insertionWorkers: 2, ...config });
  const docs = (table: string): Promise<BSON.Document[]> => db.collection(table).find({}).toArray();
  return {
    target,
    tables: ['alpha', 'beta'],
    liveIds: async (table) => (await docs(table)).map((d) => mongoIdText(d._id) ?? '?').sort(),
    liveRecord: async (table, id) => {
      const doc = (await docs(table)).find((d) => mongoIdText(d._id) === id);
      return doc === undefined ? undefined : JSON.parse(BSON.EJSON.stringify(doc, { relaxed: true }));
    },
    liveIdentity: async (table) => {
      const [info] = await db.listCollections({ name: table }).toArray();
      return (info as { info?: { uuid?: BSON.UUID } } | undefined)?.info?.uuid?.toHexString();
    },
    cleanup,
  };
}

/** The claims in `db`'s `statements` collection, in the shape and order the contracts compare. */
export async function mongoClaims(db: Db): Promise<ClaimRow[]> {
  const projection = {
    _id: 0,
    documentDigest: 1,
    vulnerabilityId: 1,
    productKey: 1,
    status: 1,
    justification: 1,
    statement: 1,
    format: 1,
  };
  return sortRows((await db.collection('statements').find({}, { projection }).toArray()) as unknown as ClaimRow[]);
}

/** A prepared MongoRawDocumentSource over `db`, filled through its own `append`. */
export async function mongoRawSourceFixture(db: Db, cleanup: () => Promise<void>): Promise<RawDocumentSourceFixture> {
  const source = new MongoRawDocumentSource({ db });
  (await source.prepare())._unsafeUnwrap();
  return {
    source,
    append: async (docs) => {
      (await source.append(docs))._unsafeUnwrap();
    },
    cleanup,
  };
}

/** {@link mongoRawSourceFixture} plus `sink`, with the claims read from `db`. */
export async function mongoBackfillFixture(db: Db, sink: StatementSink, cleanup: () => Promise<void>): Promise<StatementBackfillFixture> {
  return { ...(await mongoRawSourceFixture(db, cleanup)), sink, claims: () => mongoClaims(db) };
}
