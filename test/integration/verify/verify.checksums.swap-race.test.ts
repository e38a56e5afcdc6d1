import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { verifyChecksums } from '../../../src/verify/index.js';
import { tempDir } from '../../support/tmp.js';

/**
 * A directory of the bundle swapped for a symlink to a directory outside it
 * between the check of a listed name and its opening: what is hashed must
 * be the file that was checked, never one outside the base directory.
 */
const dir = tempDir('bk-sums-swap-');
const FILES = 40;
const sha = (text: string): string => createHash('sha256').update(text).digest('hex');

describe('verifyChecksums while a directory is swapped for a symlink that leads out', () => {
  it('never reads a file outside the base directory', async () => {
    const bundle = join(dir, 'bundle');
    const outside = join(dir, 'outside', 'd');
    mkdirSync(join(bundle, 'd.real'), { recursive: true });
    mkdirSync(outside, { recursive: true });
    const lines: string[] = [];
    for (let i = 0; i < FILES; i++) {
      writeFileSync(join(bundle, 'd.real', `f${i}`), `inside ${i}\n`);
      writeFileSync(join(outside, `f${i}`), `outside ${i}\n`);
      lines.push(`${sha(`outside ${i}\n`)}  d/f${i}`); // what a file outside hashes to
    }
    writeFileSync(join(bundle, 'SHA256SUMS'), `${lines.join('\n')}\n`);
    symlinkSync(outside, join(bundle, 'd.link'));
    // d is the real directory, then the link out, then the directory again, as fast as rename goes.
    const swapper = spawn(
      process.execPath,
      [
        '-e',
        `const fs = require('node:fs'); const b = ${JSON.stringify(bundle)};
         for (;;) {
           try { fs.renameSync(b + '/d.real', b + '/d'); fs.renameSync(b + '/d', b + '/d.real'); } catch {}
           try { fs.renameSync(b + '/d.link', b + '/d'); fs.renameSync(b + '/d', b + '/d.link'); } catch {}
         }`,
      ],
      { stdio: 'ignore' },
    );
    try {
      const seen = new Set<string>();
      const until = Date.now() + 8_000;
      while (Date.now() < until) {
        const report = (await verifyChecksums(join(bundle, 'SHA256SUMS'), { concurrency: 8 }))._unsafeUnwrap();
        for (const entry of report.entries) seen.add(entry.status);
        // A file outside was read if its digest matched.
        expect(report.entries.filter((e) => e.status === 'OK').map((e) => e.path)).toEqual([]);
      }
      // The race was run: names were read inside, refused outside, or missing mid-rename.
      expect(seen.has('FAILED')).toBe(true);
    } finally {
      swapper.kill();
    }
  }, 60_000);
});
