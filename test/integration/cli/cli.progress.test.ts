import { describe, expect, it } from 'vitest';
import { createProgressFactory, formatDuration } from '../../../src/cli/progress.js';
import { createTestDatabase } from '../../support/pg.js';
import { tempDir } from '../../support/tmp.js';
import { join } from 'node:path';
import { cli } from './cli-harness.js';

const dir = tempDir('bk-cli-progress-');

function sink(isTTY: boolean): { text: () => string; write(t: string): void; isTTY: boolean; columns: number } {
  let out = '';
  return {
    isTTY,
    columns: 120,
    write: (t: string) => {
      out += t;
    },
    text: () => out,
  };
}

describe('progress output', () => {
  it('on a TTY: one redrawn line with a bar, rate and ETA, cleared at the end', () => {
    let now = 0;
    const s = sink(true);
    const p = createProgressFactory({ stream: s, now: () => now })('import', 'rows');
    now = 1000;
    p.update(250, 1000);
    now = 2000;
    p.update(500, 1000);
    const text = s.text();
    expect(text).toContain('\r');
    expect(text).not.toContain('\n');
    expect(text).toMatch(/import \[#+-+\]\s+50% 500\/1,000 rows 250 rows\/s ETA 0:02/);
    p.done();
    expect(s.text().endsWith('\r\x1b[2K')).toBe(true);
  });

  it('without a TTY: plain lines every few seconds and a final line, no escape codes', () => {
    let now = 0;
    const s = sink(false);
    const p = createProgressFactory({ stream: s, now: () => now, logEverySeconds: 5 })('backfill', 'docs');
    for (let t = 1; t <= 12; t += 1) {
      now = t * 1000;
      p.update(t * 10, 120);
    }
    p.done();
    const lines = s.text().trim().split('\n');
    expect(lines).toHaveLength(3);
    expect(lines[0]).toBe('backfill: 50/120 docs (42%), 10 docs/s ETA 0:07');
    expect(lines[2]).toMatch(/^backfill: 120\/120 docs \(100%\), 10 docs\/s ETA 0:00 \(done in 0:12\)$/);
    expect(s.text()).not.toContain('\x1b');
  });

  it('quiet prints nothing; durations format as m:ss and h:mm:ss', () => {
    const s = sink(false);
    const p = createProgressFactory({ stream: s, quiet: true })('x', 'y');
    p.update(1, 2);
    p.done();
    expect(s.text()).toBe('');
    expect(formatDuration(75)).toBe('1:15');
    expect(formatDuration(3725)).toBe('1:02:05');
  });

  it('the real CLI under a pipe writes plain progress lines to stderr and keeps stdout for the report', async () => {
    const db = await createTestDatabase();
    try {
      const tarball = join(dir, 'p.tar.zst');
      expect((await cli(['dataset', 'build', tarball, '--linksets', '2000', '--chunks', '10', '--quiet'])).code).toBe(0);
      const r = await cli(['dataset', 'import', tarball, '--json'], { env: { PGURI: db.url, BACKFILL_KIT_PROGRESS_INTERVAL: '0.001' } });
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).toMatch(/^import .*p\.tar\.zst: [\d,]+\/2,010 rows \(\d+%\), [\d,]+ rows\/s/m);
      expect(r.stderr).not.toContain('\x1b');
      expect(JSON.parse(r.stdout).ok).toBe(true);
    } finally {
      await db.drop();
    }
  });
});
