/**
 * Integer flags take plain decimal digits. `Number` reads far more (`_` as
 * 0 once separators are dropped, `0x10`, `1e3`, padded or signed text), so
 * a typo or an unset variable in a script could pick a value nobody wrote.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cli, jsonOf } from './cli-harness.js';

const dir = mkdtempSync(join(tmpdir(), 'backfill-kit-cli-int-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

// Each test starts one CLI that writes (or must not write) its own file: they run at once.
describe.concurrent('CLI integer flags', () => {
  it.each(['_', '1_000', '0x10', '1e3', ' 5', '5 ', '+5', '-0', '5.0', '\uff15'])('refuses --seed %j and writes nothing', async (value) => {
    const out = join(dir, `bad-${Buffer.from(value).toString('hex')}.tar.zst`);
    const r = await cli(['dataset', 'build', out, '--linksets', '1', '--chunks', '1', `--seed=${value}`, '--json']);
    expect(r.code).toBe(2);
    const doc = jsonOf(r);
    expect(doc.error?.code).toBe('INVALID_ARGUMENT');
    expect(doc.error?.message).toBe(
      `--seed must be an integer from 0 to ${2 ** 32 - 1}, not ${JSON.stringify(value)}. Write it with the digits 0-9 only.`,
    );
    expect(existsSync(out)).toBe(false);
  });

  it('takes plain digits, leading zeros included', async () => {
    const out = join(dir, 'good.tar.zst');
    const r = await cli(['dataset', 'build', out, '--linksets', '1', '--chunks', '1', '--seed', '007', '--json']);
    expect(r.code).toBe(0);
    expect(existsSync(out)).toBe(true);
  });
});
