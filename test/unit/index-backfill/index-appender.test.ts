import { appendFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { IndexAppender } from '../../../src/index-backfill/index-appender.js';

describe('IndexAppender.append', () => {
  it('writes nothing while the file ends in someone else’s unfinished line, and starts a fresh line when told to', async () => {
    const path = join(mkdtempSync(join(tmpdir(), 'backfill-kit-ib-appender-')), 'index.jsonl');
    writeFileSync(path, '{"episode_id": "a"}\n');
    const appender = await IndexAppender.open(path);
    expect(appender.append('{"episode_id": "b"}')).toBe(true);
    appendFileSync(path, '{"episode_id": "rx", "ho');
    expect(appender.append('{"episode_id": "c"}')).toBe(false);
    expect(readFileSync(path, 'utf8')).toBe('{"episode_id": "a"}\n{"episode_id": "b"}\n{"episode_id": "rx", "ho');
    expect(appender.append('{"episode_id": "c"}', true)).toBe(true);
    await appender.close();
    expect(readFileSync(path, 'utf8')).toBe('{"episode_id": "a"}\n{"episode_id": "b"}\n{"episode_id": "rx", "ho\n{"episode_id": "c"}\n');
  });
});
