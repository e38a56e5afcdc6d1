import { spawn } from 'node:child_process';
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { tempDir } from '../../support/tmp.js';

const source = fileURLToPath(new URL('../../../src/_internals/package-json.ts', import.meta.url));

/** A package.json of `version`, as an install of that version leaves it. */
const manifest = (version: string): string => JSON.stringify({ name: '@stella/backfill-kit', version, type: 'module' });

describe('kitVersion', () => {
  // A worker process started before a deploy installed another version over its files runs the old code: plans it
  // makes and runs it works must carry that code's version, or the check that keeps versions apart lets them mix.
  it('is the version of the package whose code the process loaded, not of one installed over it afterwards', async () => {
    const root = tempDir();
    mkdirSync(join(root, 'src', '_internals'), { recursive: true });
    copyFileSync(source, join(root, 'src', '_internals', 'package-json.ts'));
    writeFileSync(join(root, 'package.json'), manifest('1.0.0'));
    const url = pathToFileURL(join(root, 'src', '_internals', 'package-json.ts')).href;
    const script = `const { kitVersion } = await import(${JSON.stringify(url)});
      process.stdout.write('loaded\\n');
      process.stdin.once('data', () => { process.stdout.write(kitVersion() + '\\n'); process.exit(0); });`;
    const child = spawn(process.execPath, ['--no-warnings', '--input-type=module', '-e', script], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stderr.on('data', (d: Buffer) => {
      err += d.toString();
    });
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        if (out.includes('loaded\n')) resolve();
      });
      child.on('exit', () => reject(new Error(`exited before loading: ${err}`)));
    });
    writeFileSync(join(root, 'package.json'), manifest('2.0.0'));
    child.stdin.write('go\n');
    expect(await exited, err).toBe(0);
    expect(out).toBe('loaded\n1.0.0\n');
  });
});
