import { execFileSync, spawnSync } from 'node:child_process';
import { closeSync, constants, mkdtempSync, openSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';

/** A temporary directory removed after the test file. */
export function tempDir(prefix = 'backfill-kit-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Runs a command (no shell) and returns stdout; throws on failure. */
export function run(cmd: string, args: string[], options: { cwd?: string; input?: string | Buffer } = {}): string {
  return execFileSync(cmd, args, { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024, ...options });
}

/** Runs a shell script (bash -o pipefail) and returns stdout; throws on failure. */
export function sh(script: string, cwd?: string): string {
  return execFileSync('bash', ['-o', 'pipefail', '-c', script], {
    encoding: 'utf8',
    maxBuffer: 256 * 1024 * 1024,
    ...(cwd ? { cwd } : {}),
  });
}

/** Whether a command-line tool is installed. */
export function hasTool(name: string): boolean {
  return spawnSync('bash', ['-c', `command -v ${name}`], { stdio: 'ignore' }).status === 0;
}

/** Command-line oracles a test needs, and how to say which are missing. */
export interface NeededTools {
  /** True when any of them is not installed: pass to `skipIf`. */
  readonly missing: boolean;
  /** `text`, plus "(skipped: zstd is not installed)" when something is missing. */
  title(text: string): string;
}

/**
 * Checks for the tools a test uses as oracles, so a skipped test can say why
 * in its title: `it.skipIf(tools.missing)(tools.title('…'), …)`.
 */
export function needTools(...names: string[]): NeededTools {
  const absent = names.filter((name) => !hasTool(name));
  const why = absent.length === 0 ? '' : ` (skipped: ${absent.join(', ')} ${absent.length === 1 ? 'is' : 'are'} not installed)`;
  return { missing: absent.length > 0, title: (text) => `${text}${why}` };
}

/**
 * True when a reader still waits in `open()` on `fifo`: a non-blocking open
 * of the write end succeeds only then (and releases that reader), and fails
 * with ENXIO when nobody waits. A test of an aborted read expects false.
 */
export function fifoReaderWaiting(fifo: string): boolean {
  try {
    closeSync(openSync(fifo, constants.O_WRONLY | constants.O_NONBLOCK));
    return true;
  } catch (error) {
    if ((error as { code?: string }).code === 'ENXIO') return false;
    throw error;
  }
}
