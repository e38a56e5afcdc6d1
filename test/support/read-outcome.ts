import type { Readable } from 'node:stream';
import { readDataset } from '../../src/dataset/index.js';

/**
 * What reading a dataset to its end gives, as one line: `read <names>` (the
 * members' names, comma-separated) or `<code>: <message>` of the error.
 */
export async function readOutcome(input: string | Readable): Promise<string> {
  try {
    const names: string[] = [];
    for await (const member of readDataset(input)) {
      names.push(member.name);
      for await (const _ of member.chunks());
    }
    return `read ${names.join(',')}`;
  } catch (error) {
    return `${(error as { code: string }).code}: ${(error as Error).message}`;
  }
}
