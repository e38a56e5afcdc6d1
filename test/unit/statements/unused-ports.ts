/**
 * Test help: a source and a sink that pass the backfiller's shape checks
 * but do nothing, for tests whose runs must stop at their options before
 * any work (a run that got further would fail on what these return).
 */
import type { RawDocumentSource, StatementSink } from '../../../src/statements/ports.js';

export const unusedSource = { readPage: () => undefined } as unknown as RawDocumentSource;
export const unusedSink = {
  existingDigests: () => undefined,
  commitBatch: () => undefined,
  loadCheckpoint: () => undefined,
} as unknown as StatementSink;
