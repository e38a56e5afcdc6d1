import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { writeDataset } from '../src/dataset/index.js';
import { generateAdvisoryChunks, generateLinksets } from '../src/testing/index.js';
import { BENCH_TMP } from './lib.js';

/**
 * A `.tar.zst` dataset of `rows` linkset records (plus a few advisory
 * chunks), built once per size and reused by later runs.
 */
export async function benchDataset(rows: number): Promise<{ file: string; member: string; memberBytes: number; fileBytes: number }> {
  // `sized`: frames that declare their content size, as writeDataset writes them now (older files stream).
  const file = join(BENCH_TMP, `dataset-sized-${rows}.tar.zst`);
  const member = 'linksets.ndjson';
  const sizeFile = `${file}.member-bytes`;
  if (!existsSync(file) || !existsSync(sizeFile)) {
    const written = await writeDataset(file, {
      members: { [member]: generateLinksets(rows, 11), 'advisory_chunks.ndjson': generateAdvisoryChunks(1000, 12) },
      level: 3,
    });
    if (written.isErr()) throw written.error;
    const bytes = written.value.manifest.members.find((m) => m.name === member)?.bytes ?? 0;
    const { writeFileSync } = await import('node:fs');
    writeFileSync(sizeFile, String(bytes));
  }
  const { readFileSync } = await import('node:fs');
  return { file, member, memberBytes: Number(readFileSync(sizeFile, 'utf8')), fileBytes: statSync(file).size };
}
