/**
 * `--json`: every exit of the real CLI prints exactly one JSON object on
 * stdout, including the exits that never reach a command.
 */
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { open } from 'node:fs/promises';
import { writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { needTools, tempDir } from '../../support/tmp.js';
import { cli, type CliJsonDocument, type CliRun } from './cli-harness.js';

const dir = tempDir('bk-cli-json-');
const mkfifoTool = needTools('mkfifo');

/** stdout parsed as one JSON document: it throws if there is anything else, or nothing. */
function onlyJson(run: CliRun): CliJsonDocument {
  expect(run.stdout.trim(), `stdout is empty (exit ${run.code}); stderr:\n${run.stderr}`).not.toBe('');
  const document = JSON.parse(run.stdout);
  expect(typeof document).toBe('object');
  expect(document.exitCode).toBe(run.code);
  expect(document.ok).toBe(run.code === 0);
  return document;
}

describe('--json on every exit', () => {
  it.each([
    [['bogus', '--json'], null],
    [['--json', 'bogus'], null],
    [['--json', 'bogus', 'thing'], null],
    [['checksums', 'bogus', '--json'], 'checksums'],
    [['--json', 'checksums', 'bogus'], 'checksums'],
    [['--json', '--frobnicate'], null],
    [['checksums', 'verify', '--json'], 'checksums verify'],
    [['checksums', 'verify', 'SUMS', '--frobnicate', '--json'], 'checksums verify'],
  ] as const)('usage error %j: exit 2, one object naming the error', async (args, command) => {
    const r = await cli(args);
    expect(r.code).toBe(2);
    const doc = onlyJson(r);
    expect(doc).toMatchObject({ command, ok: false, exitCode: 2, report: null });
    expect(doc.error?.code).toBe('INVALID_ARGUMENT');
    // the human-readable error still goes to stderr
    expect(r.stderr).toMatch(/^error INVALID_ARGUMENT: /m);
  });

  it.each([
    [['--json'], null],
    [['--help', '--json'], null],
    [['checksums', '--json'], 'checksums'],
    [['checksums', 'verify', '--help', '--json'], 'checksums verify'],
    [['--json', 'checksums', 'verify', '--help'], 'checksums verify'],
  ] as const)('help %j: exit 0, the help text inside the object', async (args, command) => {
    const r = await cli(args);
    expect(r.code).toBe(0);
    const doc = onlyJson(r);
    expect(doc).toMatchObject({ command, ok: true, error: null });
    expect(doc.report.help).toContain('Usage: backfill-kit');
  });

  it('--version: the version inside the object', async () => {
    for (const args of [
      ['--version', '--json'],
      ['--json', '--version'],
    ]) {
      const r = await cli(args);
      expect(r.code).toBe(0);
      expect(onlyJson(r).report.version).toMatch(/^\d+\.\d+\.\d+/);
    }
    expect((await cli(['--version'])).stdout).toMatch(/^\d+\.\d+\.\d+\S*\n$/);
  });

  it('--json before the group runs the command as if it came after it', async () => {
    writeFileSync(join(dir, 'a.txt'), 'a\n');
    writeFileSync(join(dir, 'SHA256SUMS'), `${createHash('sha256').update('a\n').digest('hex')}  a.txt\n`);
    const before = await cli(['--json', 'checksums', 'verify', join(dir, 'SHA256SUMS')]);
    const after = await cli(['checksums', 'verify', join(dir, 'SHA256SUMS'), '--json']);
    expect(before.code).toBe(0);
    expect(onlyJson(before)).toEqual(onlyJson(after));
    expect(onlyJson(before).report.counts.ok).toBe(1);
  });

  it('--no-json after --json, or --json after `--`, means text', async () => {
    const off = await cli(['bogus', '--json', '--no-json']);
    expect(off.code).toBe(2);
    expect(off.stdout).toBe('');
    const operand = await cli(['checksums', 'verify', '--', '--json']);
    expect(operand.stdout).not.toMatch(/^\{/);
  });
});

describe.skipIf(mkfifoTool.missing)(mkfifoTool.title('--json when interrupted'), () => {
  const tsx = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
  const main = fileURLToPath(new URL('../../../src/cli/main.ts', import.meta.url));

  /** Starts `checksums verify <fifo> --json` and resolves once it is blocked reading the FIFO. */
  async function blockedOnFifo(name: string) {
    const fifo = join(dir, name);
    expect(spawnSync('mkfifo', [fifo]).status).toBe(0);
    const child = spawn(process.execPath, ['--import', tsx, main, 'checksums', 'verify', fifo, '--json'], {
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const closed = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
      child.once('close', (code, signal) => resolve({ code, signal })),
    );
    // Opening the write end returns once the CLI has opened the read end; holding it open, writing nothing, blocks its read.
    const writer = await open(fifo, 'w');
    const stderrShows = (text: string): Promise<void> =>
      new Promise((resolve) => {
        const check = (): void => {
          if (stderr.includes(text)) resolve();
          else child.stderr.once('data', check);
        };
        check();
      });
    return {
      child,
      writer,
      stderrShows,
      done: async (): Promise<CliRun & { signal: NodeJS.Signals | null }> => ({ ...(await closed), stdout, stderr }),
    };
  }

  it('Ctrl-C while a read blocks: exit 130 and one ABORTED object', async () => {
    const { child, writer, done } = await blockedOnFifo('SUMS-1');
    try {
      child.kill('SIGINT');
      const r = await done();
      expect(r.code, r.stderr).toBe(130);
      expect(onlyJson(r)).toMatchObject({ command: 'checksums verify', ok: false, error: { code: 'ABORTED' } });
    } finally {
      await writer.close();
    }
  }, 30_000);

  it('Ctrl-C twice: still exactly one object', async () => {
    const { child, writer, stderrShows, done } = await blockedOnFifo('SUMS-2');
    try {
      // Two signals sent at once may arrive as one: send the second once the first was seen.
      child.kill('SIGINT');
      await stderrShows('stopping');
      child.kill('SIGINT');
      const r = await done();
      // The second signal may land while the process is already exiting with 130 after the first,
      // when Node no longer handles it: the shell then sees SIGINT, which it also reports as 130.
      expect(r.code === 130 || (r.code === null && r.signal === 'SIGINT'), `${r.code} ${r.signal} ${r.stderr}`).toBe(true);
      // Either way the one document it wrote says 130.
      expect(onlyJson({ ...r, code: 130 }).error?.code).toBe('ABORTED');
    } finally {
      await writer.close();
    }
  }, 30_000);
});
