/**
 * `BACKFILL_KIT_PROGRESS_INTERVAL` paces the progress lines only, so a bad
 * value does not stop a run; but it is not read loosely (`0x10` as 16 s)
 * or dropped in silence (`abc`, `0` as the default): the run says so.
 */
import { describe, expect, it } from 'vitest';
import { cli, jsonOf } from './cli-harness.js';

const args = ['checksums', 'verify', '/nonexistent/SHA256SUMS', '--json'];

describe('BACKFILL_KIT_PROGRESS_INTERVAL', () => {
  it.each(['0x10', '1e3', 'abc', '0', ' 5', '+5'])('%j keeps the default of 5 seconds, with a warning', async (value) => {
    const r = await cli(args, { env: { BACKFILL_KIT_PROGRESS_INTERVAL: value } });
    expect(jsonOf(r).exitCode).toBe(8);
    expect(r.stderr).toContain(
      `warn: BACKFILL_KIT_PROGRESS_INTERVAL must be a number of seconds above 0 such as 5 or 0.5, not ${JSON.stringify(value)}; using 5.`,
    );
  });

  it.each(['5', '0.5', ''])('%j is taken without a word', async (value) => {
    const r = await cli(args, { env: { BACKFILL_KIT_PROGRESS_INTERVAL: value } });
    expect(jsonOf(r).exitCode).toBe(8);
    expect(r.stderr).not.toContain('BACKFILL_KIT_PROGRESS_INTERVAL');
  });
});
