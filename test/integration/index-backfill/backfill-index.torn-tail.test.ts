/**
 * The receiver's row for a tarball was half written (no newline yet) when
 * the backfill read the index: the half line is not JSON, so the episode
 * looked missing, and the re-read before each row began in the middle of
 * that line, so the finished row was never recognised either and the
 * tarball got a second row.
 */
import { appendFileSync, readFileSync, writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { backfillIndex } from '../../../src/index-backfill/index.js';
import { smallTree } from './episode-tree.js';

describe('backfillIndex while the receiver is half way through a row', () => {
  it('recognises the row once finished, and appends none of its own for that episode', async () => {
    const { root, index } = await smallTree('torn-tail', ['e1', 'e2']);
    const head = '{"episode_id": "old", "host_id": "h"}\n{"episode_id": "e1", "host_id": "h", "sha256": "';
    const rest = `${'a'.repeat(64)}"}\n`;
    writeFileSync(index, head);
    let finished = false;
    const result = await backfillIndex({
      episodesRoot: root,
      index,
      concurrency: 1,
      logger: {
        debug: () => undefined,
        info: () => undefined,
        error: () => undefined,
        // The half line is reported as not JSON; the receiver finishes it right after the read.
        warn: (_message, fields) => {
          if (!finished && fields?.['code'] === 'JSON_MALFORMED') {
            appendFileSync(index, rest);
            finished = true;
          }
        },
      },
    });
    expect(finished).toBe(true);
    const report = result._unsafeUnwrap();
    const ids = readFileSync(index, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((line) => (JSON.parse(line) as { episode_id: string }).episode_id);
    expect(ids).toEqual(['old', 'e1', 'e2']);
    expect(report.appended).toBe(1);
    expect(report.alreadyIndexed).toBe(1);
  });
});
