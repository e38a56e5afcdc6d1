/**
 * `signature: null` (what a JSON config writes for "not set here") made
 * verifyChecksums reject its promise with a TypeError ("Cannot read
 * properties of null") instead of returning a result; it is now
 * INVALID_ARGUMENT, as a `null` threshold is for verifyDsse, and nothing is
 * taken as "no signature" but an absent one.
 */
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { verifyChecksums, type VerifyChecksumsOptions } from '../../../src/verify/index.js';
import { tempDir } from '../../support/tmp.js';

const dir = tempDir('bk-null-signature-');
const sums = join(dir, 'SHA256SUMS');
writeFileSync(join(dir, 'a'), 'a');
writeFileSync(sums, `${createHash('sha256').update('a').digest('hex')}  a\n`);

describe('verifyChecksums signature option', () => {
  for (const value of [null, 'c2ln', 0]) {
    it(`returns INVALID_ARGUMENT for signature: ${JSON.stringify(value)}, without throwing`, async () => {
      const options = { signature: value } as unknown as VerifyChecksumsOptions;
      const r = await verifyChecksums(sums, options);
      expect(r.isErr() && r.error.code).toBe('INVALID_ARGUMENT');
      expect(r.isErr() && r.error.message).toContain('signature');
    });
  }

  it('checks the files without a signature when it is absent', async () => {
    const r = await verifyChecksums(sums, {});
    expect(r.isOk() && r.value.ok).toBe(true);
    expect(r.isOk() && r.value.signature).toBeNull();
  });
});
