/**
 * A {@link MongoStagingTarget} over a fresh recording driver fake, for the
 * unit tests that load through it.
 */
import type { Db } from 'mongodb';
import { MongoStagingTarget } from '../../src/mongodb/mongo-staging-target.js';
import { FakeMongo } from './recording-mongo-fake.js';

/** One collection, `alpha`, loaded by one insertion worker in batches of `batchSize` documents, retrying at once. */
export function fakeStagingTarget(batchSize: number): { fake: FakeMongo; target: MongoStagingTarget } {
  const fake = new FakeMongo();
  const target = new MongoStagingTarget({
    db: fake.db() as unknown as Db,
    collections: ['alpha'],
    batchSize,
    insertionWorkers: 1,
    retryDelayMs: 1,
  });
  return { fake, target };
}
