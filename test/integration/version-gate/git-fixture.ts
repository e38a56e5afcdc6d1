/**
 * Real git repositories for the VersionGate tests, made with git itself
 * (which also serves as the oracle for commit order).
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const IDENTITY = {
  GIT_AUTHOR_NAME: 'Gate Test',
  GIT_AUTHOR_EMAIL: 'gate@example.invalid',
  GIT_COMMITTER_NAME: 'Gate Test',
  GIT_COMMITTER_EMAIL: 'gate@example.invalid',
};

function git(cwd: string, args: string[], input?: string): string {
  return execFileSync('git', ['-C', cwd, ...args], {
    encoding: 'utf8',
    input,
    env: { ...process.env, ...IDENTITY },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
}

const scratchDirs: string[] = [];

/** A scratch directory under the OS temp dir, removed by {@link removeScratchDirs}. */
export function scratchDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), `backfill-kit-vg-${prefix}-`));
  scratchDirs.push(dir);
  return dir;
}

/** Removes every scratch directory (and repository) this process made. */
export function removeScratchDirs(): void {
  for (const dir of scratchDirs.splice(0)) {
    rmSync(dir, { recursive: true, force: true });
    rmSync(`${dir}-moved`, { recursive: true, force: true });
  }
}

export interface GitRepo {
  readonly dir: string;
  /** Every commit, newest first, as `git rev-list HEAD` prints them. */
  commits(): string[];
  /** Adds one commit on top of HEAD and returns its hash. */
  addCommit(message: string): string;
}

/** A repository with `count` linear commits, built in one `git fast-import` run. */
export function createRepo(count: number, options: { objectFormat?: 'sha1' | 'sha256' } = {}): GitRepo {
  const dir = scratchDir('repo');
  git(dir, ['init', '-q', '-b', 'main', ...(options.objectFormat === 'sha256' ? ['--object-format=sha256'] : [])]);
  let stream = '';
  for (let i = 1; i <= count; i += 1) {
    const message = `commit ${i}\n`;
    const content = `line ${i}\n`;
    stream += `commit refs/heads/main\ncommitter Gate Test <gate@example.invalid> ${1_700_000_000 + i * 60} +0000\n`;
    stream += `data ${Buffer.byteLength(message)}\n${message}M 644 inline file.txt\ndata ${Buffer.byteLength(content)}\n${content}\n`;
  }
  git(dir, ['fast-import', '--quiet'], stream);
  return {
    dir,
    commits: () => git(dir, ['rev-list', 'HEAD']).trim().split('\n'),
    addCommit: (message) => {
      const hash = git(dir, ['commit-tree', 'HEAD^{tree}', '-p', 'HEAD', '-m', message]).trim();
      git(dir, ['update-ref', 'HEAD', hash]);
      return hash;
    },
  };
}

export interface CountingGit {
  /** Pass this as the gate's `git` option. */
  readonly path: string;
  /** How many times it has been started. */
  runs(): number;
}

/**
 * A `git` stand-in that counts its starts in a file, optionally waits, and
 * then execs the real git. With `hang`, every start, and with
 * `hangFromRun`, that start and later ones, sleep for two minutes instead
 * of answering: past a test's timeout (60 s), so a gate that waited for such a
 * git instead of killing it fails the test without a clock to read.
 */
export function countingGit(options: { delaySeconds?: number; hang?: boolean; hangFromRun?: number } = {}): CountingGit {
  const dir = scratchDir('git');
  const counter = join(dir, 'runs');
  const path = join(dir, 'counting-git.sh');
  const from = options.hang ? 1 : options.hangFromRun;
  const hang = from === undefined ? '' : `[ "$(wc -l < '${counter}')" -ge ${from} ] && exec sleep 120\n`;
  const delay = options.delaySeconds ? `sleep ${options.delaySeconds}\n` : '';
  writeFileSync(path, `#!/bin/sh\necho run >> '${counter}'\n${hang}${delay}exec git "$@"\n`);
  chmodSync(path, 0o755);
  return {
    path,
    runs: () => (existsSync(counter) ? readFileSync(counter, 'utf8').split('\n').filter(Boolean).length : 0),
  };
}

/** A logger that records every call, by level. */
export function recordingLogger(): {
  logger: { info: (m: string) => void; warn: (m: string) => void; error: (m: string) => void; debug: (m: string) => void };
  calls: Record<'info' | 'warn' | 'error' | 'debug', string[]>;
} {
  const calls = { info: [] as string[], warn: [] as string[], error: [] as string[], debug: [] as string[] };
  return {
    calls,
    logger: {
      info: (m) => calls.info.push(m),
      warn: (m) => calls.warn.push(m),
      error: (m) => calls.error.push(m),
      debug: (m) => calls.debug.push(m),
    },
  };
}

/** A clock the test moves by hand. */
export function manualClock(start = 1_000_000): { now: () => number; advance: (ms: number) => void } {
  let t = start;
  return { now: () => t, advance: (ms) => (t += ms) };
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

export const REMEDIATION = [
  'cd /srv/lab-agent && sudo -u lab git pull --ff-only origin main',
  'sudo /srv/lab-agent/bin/reinstall --yes',
  "sudo systemctl restart 'lab-agent.service'",
];
