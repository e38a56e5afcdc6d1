/**
 * Idempotent collection create/drop, shared by the adapters (internal).
 *
 * @module
 */
import type { Db, WriteConcernSettings } from 'mongodb';
import { mongoErrorCode } from './errors.js';

/** Server code when the collection already exists. */
const NAMESPACE_EXISTS = 48;
/** Server code when the collection does not exist. */
const NAMESPACE_NOT_FOUND = 26;

/**
 * Creates `name` unless it already exists (for the sink's and the
 * checkpoint store's own collections: reusing an existing one is the point).
 */
export async function ensureCollection(db: Db, name: string, writeConcern: WriteConcernSettings): Promise<void> {
  try {
    await db.createCollection(name, { writeConcern });
  } catch (error) {
    if (mongoErrorCode(error) !== NAMESPACE_EXISTS) throw error;
  }
}

/** Drops `name` if it exists. */
export async function dropIfExists(db: Db, name: string, writeConcern: WriteConcernSettings): Promise<void> {
  try {
    await db.dropCollection(name, { writeConcern });
  } catch (error) {
    if (mongoErrorCode(error) !== NAMESPACE_NOT_FOUND) throw error;
  }
}
