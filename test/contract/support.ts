/**
 * Shared plumbing of the contract suites: where MongoDB is (if anywhere),
 * the skip title when it is not, and unique names per test.
 */
import { randomBytes } from 'node:crypto';
import { MongoClient } from 'mongodb';
import { afterAll, beforeAll } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../support/pg.js';

/** A real `mongod` (a replica set for the transaction cases), or undefined. */
export const mongoUrl: string | undefined = process.env.BACKFILL_KIT_MONGODB_URL || undefined;

/** Why the MongoDB suites do not run here; part of their titles when skipped. */
export const MONGO_SKIP_REASON = 'skipped: BACKFILL_KIT_MONGODB_URL not set; no MongoDB server can run on this machine';

/** The title of a MongoDB suite: plain when it runs, with the reason when it is skipped. */
export function mongoSuiteTitle(name: string): string {
  if (mongoUrl !== undefined) return name;
  console.warn(`[backfill-kit tests] ${name}: ${MONGO_SKIP_REASON}`);
  return `${name} (${MONGO_SKIP_REASON})`;
}

/** A short unique lowercase name, for schemas, tables, databases and collections. */
export function uniqueName(prefix: string): string {
  return `${prefix}_${randomBytes(5).toString('hex')}`;
}

/**
 * A database of its own for the enclosing `describe`, created before its
 * tests and dropped after them. Call the returned function inside a test.
 */
export function usePgDatabase(): () => TestDatabase {
  let db: TestDatabase | undefined;
  beforeAll(async () => {
    db = await createTestDatabase();
  });
  afterAll(async () => {
    await db?.drop();
  });
  return () => db!;
}

/** A MongoDB client for the enclosing `describe` (only where `mongoUrl` is set). */
export function useMongoClient(): () => MongoClient {
  let client: MongoClient | undefined;
  beforeAll(async () => {
    client = await MongoClient.connect(mongoUrl!);
  });
  afterAll(async () => {
    await client?.close();
  });
  return () => client!;
}
