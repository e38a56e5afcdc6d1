/**
 * Shared plumbing of the contract suites: where MongoDB is (if anywhere),
 * the skip title when it is not, and unique names per test.
 */
import { randomBytes } from 'node:crypto';

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
