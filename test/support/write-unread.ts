import { writeDataset } from '../../src/dataset/index.js';
import type { BackfillError } from '../../src/errors.js';

/**
 * Writes a dataset of one member, one record, to `path`, expecting it to be
 * refused: the error, and whether the record was read before the refusal.
 */
export async function refusedWrite(path: string, sha256File = false): Promise<{ error: BackfillError; read: boolean }> {
  let read = false;
  function* records(): Generator<object> {
    read = true;
    yield { _id: 1 };
  }
  const written = await writeDataset(path, { members: { 'a.ndjson': records() }, sha256File });
  return { error: written._unsafeUnwrapErr(), read };
}
