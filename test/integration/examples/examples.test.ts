import { createHash } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect } from 'node:net';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { writeDataset } from '../../../src/dataset/index.js';
import { PgRawDocumentSource } from '../../../src/statements/index.js';
import { buildEpisodeTarball, generateAdvisoryChunks, generateLinksets, generateVexDocuments } from '../../../src/testing/index.js';
import { createTestDatabase, type TestDatabase } from '../../support/pg.js';
import { hasTool, needTools, run, tempDir } from '../../support/tmp.js';
import { repoRoot, runExample, startExample, showRun as show, type ExampleRun } from './run-example.js';

const gitTool = needTools('git');

// Every example must be exercised here; a new one without a case fails this list.
const COVERED = [
  'backfill-statements.ts',
  'backfill-store-aoc-19-005.ts',
  'demo.ts',
  'export-linksets-tarball.ts',
  'index-backfill.ts',
  'release-bundle.ts',
  'scanner-artifact-boms-ensure-partitions.ts',
  'scanner-artifact-boms-retention.ts',
  'version-gate-receiver.ts',
];

const examples = readdirSync(join(repoRoot, 'examples'))
  .filter((f) => f.endsWith('.ts'))
  .sort();
const dir = tempDir('bk-examples-');
let db: TestDatabase;

beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => {
  await db.drop();
});

describe('examples/*.ts', () => {
  it('each example is covered by a case below', () => {
    expect(examples.filter((e) => !COVERED.includes(e))).toEqual([]);
  });

  it.each(examples)('%s names the runbook step it replaces in its first comment', (name) => {
    const head = readFileSync(join(repoRoot, 'examples', name), 'utf8').split('\n');
    expect(head[0]).toMatch(/^\/\/ /);
    const firstComment = head
      .slice(
        0,
        head.findIndex((l) => !l.startsWith('//')),
      )
      .join('\n');
    expect(firstComment).toMatch(/[Rr]eplaces/);
    expect(firstComment).toMatch(/runbook|release plan|\.sh/i);
  });
});

const hasDemo = examples.includes('demo.ts');
describe.skipIf(!hasDemo)(`demo.ts (npm run demo)${hasDemo ? '' : ' (skipped: examples/demo.ts is not there)'}`, () => {
  it('runs the whole pipeline against the test server and exits 0', async () => {
    // Its own database for the demo, made by the harness (the demo would otherwise CREATE DATABASE on the server).
    const own = await createTestDatabase();
    let r: ExampleRun;
    try {
      r = await runExample('demo.ts', [], { BACKFILL_KIT_PG_URL: inject('pgUrl'), BACKFILL_KIT_DEMO_DATABASE_URL: own.url });
    } finally {
      await own.drop();
    }
    expect(r.code, show(r)).toBe(0);
    for (const step of [
      '1. Build',
      '2. Verify',
      '3. Import',
      '4. Roll back',
      '5. Partitions',
      '6. Backfill statements',
      '7. Index backfill',
      'Done: every step succeeded',
    ]) {
      expect(r.stdout).toContain(step);
    }
    expect(r.stdout).toMatch(/Backfill completed: evaluated 300, /);
    expect(r.stdout).toContain('counts after rollback: {"linksets_raw":0,"advisory_chunks_raw":0}');
  }, 300_000);

  it.for([
    ['BACKFILL_KIT_PG_URL', 'postgres://x:s3cretpw@[bad'],
    ['BACKFILL_KIT_PG_URL', 'not a url s3cretpw'],
    ['BACKFILL_KIT_DEMO_DATABASE_URL', 'postgres://x:s3cretpw@db:99999/demo'],
  ] as const)('a malformed %s (%s) stops it with exit 2 naming the variable and its form, without the password', async ([name, value]) => {
    const r = await runExample('demo.ts', [], { [name]: value });
    expect(r.code, show(r)).toBe(2);
    expect(r.stderr).toContain(`demo: ${name} is not a connection URL`);
    expect(r.stderr).toContain('postgres://user:password@host:port/database');
    expect(r.stderr).not.toContain('Invalid URL');
    expect(`${r.stdout}${r.stderr}`).not.toContain('s3cretpw');
    // Refused before anything is started.
    expect(r.stdout).not.toContain('Starting an embedded PostgreSQL');
  });

  it('with no BACKFILL_KIT_PG_URL it starts its own embedded PostgreSQL and stops it afterwards', async () => {
    const r = await runExample('demo.ts');
    expect(r.code, show(r)).toBe(0);
    expect(r.stdout).toContain('Starting an embedded PostgreSQL');
    expect(r.stdout).toContain('Done: every step succeeded');
    const port = Number(/PostgreSQL: 127\.0\.0\.1:(\d+)/.exec(r.stdout)?.[1]);
    expect(port).toBeGreaterThan(0);
    // The server is gone: nothing listens on its port any more.
    const refused = await new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve(false);
      });
      socket.once('error', () => resolve(true));
    });
    expect(refused).toBe(true);
  }, 300_000);
});

describe('dataset runbook examples', () => {
  const tarball = join(dir, 'linksets-stage-backfill.tar.zst');

  it('backfill-store-aoc-19-005.ts imports a dataset (DRY_RUN=1 first writes nothing)', async () => {
    (
      await writeDataset(tarball, {
        members: { 'linksets.ndjson': generateLinksets(30, 5), 'advisory_chunks.ndjson': generateAdvisoryChunks(45, 6) },
      })
    )._unsafeUnwrap();
    const dry = await runExample('backfill-store-aoc-19-005.ts', [tarball], { PGURI: db.url, PGSCHEMA: 'ex_stage', DRY_RUN: '1' });
    expect(dry.code, show(dry)).toBe(0);
    expect(
      (await db.query(`SELECT to_regclass('ex_stage.linksets_raw') AS t`))[0]!['t'] === null ||
        (await db.query('SELECT count(*)::int AS n FROM ex_stage.linksets_raw'))[0]!['n'] === 0,
    ).toBe(true);
    const r = await runExample('backfill-store-aoc-19-005.ts', [tarball], { PGURI: db.url, PGSCHEMA: 'ex_stage' });
    expect(r.code, show(r)).toBe(0);
    expect((await db.query('SELECT count(*)::int AS n FROM ex_stage.linksets_raw'))[0]!['n']).toBe(30);
    expect((await db.query('SELECT count(*)::int AS n FROM ex_stage.advisory_chunks_raw'))[0]!['n']).toBe(45);
  }, 120_000);

  it('backfill-store-aoc-19-005.ts reads DRY_RUN=true as a dry run, and refuses a setting it does not know', async () => {
    const small = join(dir, 'dry-run-check.tar.zst');
    (
      await writeDataset(small, {
        members: { 'linksets.ndjson': generateLinksets(3, 9), 'advisory_chunks.ndjson': generateAdvisoryChunks(2, 9) },
      })
    )._unsafeUnwrap();
    await db.query('CREATE SCHEMA IF NOT EXISTS ex_dry');
    await db.query('CREATE TABLE IF NOT EXISTS ex_dry.linksets_raw (id text primary key, raw jsonb not null)');
    await db.query('CREATE TABLE IF NOT EXISTS ex_dry.advisory_chunks_raw (id text primary key, raw jsonb not null)');
    await db.query(`INSERT INTO ex_dry.linksets_raw VALUES ('kept', '{}') ON CONFLICT DO NOTHING`);
    const rows = async (): Promise<unknown> => (await db.query('SELECT count(*)::int AS n FROM ex_dry.linksets_raw'))[0]!['n'];
    const dry = await runExample('backfill-store-aoc-19-005.ts', [small], { PGURI: db.url, PGSCHEMA: 'ex_dry', DRY_RUN: 'true' });
    expect(dry.code, show(dry)).toBe(0);
    expect(await rows()).toBe(1);
    for (const env of [{ DRY_RUN: 'ture' }, { STRATEGY: 'swpa' }, { ON_INVALID: 'rejcet' }]) {
      const r = await runExample('backfill-store-aoc-19-005.ts', [small], { PGURI: db.url, PGSCHEMA: 'ex_dry', ...env });
      expect(r.code, show(r)).toBe(2);
      expect(r.stderr).toContain(Object.keys(env)[0]!);
      expect(await rows()).toBe(1);
    }
  }, 120_000);

  it('export-linksets-tarball.ts exports the tables and prints a SHA-256 that matches the file', async () => {
    const out = join(dir, 'export', 'linksets-export.tar.zst');
    mkdirSync(join(dir, 'export'), { recursive: true });
    const r = await runExample('export-linksets-tarball.ts', [out], { PGURI: db.url, PGSCHEMA: 'ex_stage' });
    expect(r.code, show(r)).toBe(0);
    const sha = createHash('sha256').update(readFileSync(out)).digest('hex');
    expect(r.stdout).toContain(sha);
    expect(existsSync(`${out}.sha256`)).toBe(true);
  }, 120_000);
});

describe('partition runbook examples', () => {
  it('ensure-partitions 1 then retention 12 true (dry run) against PG_DSN', async () => {
    await db.query('CREATE SCHEMA IF NOT EXISTS scanner');
    await db.query(
      `CREATE TABLE scanner.artifact_boms (canonical_bom_sha256 text NOT NULL, inserted_at timestamptz NOT NULL) PARTITION BY RANGE (inserted_at)`,
    );
    const u = new URL(db.url);
    const dsn = `Host=${u.hostname};Port=${u.port || '5432'};Database=${u.pathname.slice(1)};Username=${decodeURIComponent(u.username) || 'postgres'}${u.password ? `;Password=${decodeURIComponent(u.password)}` : ''}`;
    const ensure = await runExample('scanner-artifact-boms-ensure-partitions.ts', ['1'], { PG_DSN: dsn });
    expect(ensure.code, show(ensure)).toBe(0);
    expect(ensure.stdout).toContain('ensure: 2 created');
    const before = await db.query(`SELECT count(*)::int AS n FROM pg_inherits WHERE inhparent = 'scanner.artifact_boms'::regclass`);
    const retention = await runExample('scanner-artifact-boms-retention.ts', ['12', 'true'], { PG_DSN: dsn });
    expect(retention.code, show(retention)).toBe(0);
    expect(retention.stdout).toContain('dry run');
    expect(await db.query(`SELECT count(*)::int AS n FROM pg_inherits WHERE inhparent = 'scanner.artifact_boms'::regclass`)).toEqual(
      before,
    );
    // A mistyped RETENTION_MODE must not fall back to dropping.
    const typo = await runExample('scanner-artifact-boms-retention.ts', ['0', 'false'], { PG_DSN: dsn, RETENTION_MODE: 'detahc' });
    expect(typo.code, show(typo)).toBe(2);
    expect(typo.stderr).toContain('RETENTION_MODE');
    const forced = await runExample('scanner-artifact-boms-retention.ts', ['0', 'false'], { PG_DSN: dsn, DRY_RUN: '1' });
    expect(forced.code, show(forced)).toBe(0);
    expect(forced.stdout).toContain('dry run');
    expect(await db.query(`SELECT count(*)::int AS n FROM pg_inherits WHERE inhparent = 'scanner.artifact_boms'::regclass`)).toEqual(
      before,
    );
  }, 120_000);
});

describe('statements runbook example', () => {
  it('backfill-statements.ts replays generated documents and prints the summary line of the runbook', async () => {
    const source = new PgRawDocumentSource({ pg: db.url });
    (await source.prepare())._unsafeUnwrap();
    const docs = [...generateVexDocuments({ seed: 21, count: 40, brokenRatio: 0 })];
    (await source.append(docs.map((d) => ({ digest: d.digest, retrievedAt: d.retrievedAt, content: d.content }))))._unsafeUnwrap();
    await source.close();
    const claims = docs.reduce((n, d) => n + d.expectedClaims, 0);
    const r = await runExample('backfill-statements.ts', ['--pg', db.url, '--batch-size', '15']);
    expect(r.code, show(r)).toBe(0);
    expect(r.stdout).toContain(`Backfill completed: evaluated 40, backfilled 40, claims written ${claims}, skipped 0, failures 0.`);
  }, 120_000);
});

describe('receiver runbook example: index backfill', () => {
  it('index-backfill.ts appends the missing rows', async () => {
    const root = join(dir, 'episodes');
    const index = join(dir, 'index.jsonl');
    for (const id of ['e1', 'e2', 'e3']) {
      (
        await buildEpisodeTarball({ meta: { code_version: { commit: 'c'.repeat(40) } }, path: join(root, 'host-x', `${id}.tar.zst`) })
      )._unsafeUnwrap();
    }
    const dry = await runExample('index-backfill.ts', ['--episodes-root', root, '--index', index, '--dry-run']);
    expect(dry.code, show(dry)).toBe(0);
    expect(dry.stdout).toContain('scanned: 3 already-indexed: 0 to-backfill: 3');
    expect(existsSync(index)).toBe(false);
    const r = await runExample('index-backfill.ts', ['--episodes-root', root, '--index', index]);
    expect(r.code, show(r)).toBe(0);
    expect(readFileSync(index, 'utf8').trim().split('\n')).toHaveLength(3);
  }, 120_000);
});

describe('release runbook example: the offline kit', () => {
  it('release-bundle.ts builds and verifies an offline kit slice', async () => {
    const out = join(dir, 'kit');
    const r = await runExample('release-bundle.ts', [out]);
    expect(r.code, show(r)).toBe(0);
    expect(r.stdout).toContain('all checks passed');
    if (hasTool('sha256sum')) expect(run('sha256sum', ['--check', 'SHA256SUMS'], { cwd: out })).toMatch(/: OK/);
  }, 120_000);
});

describe.skipIf(gitTool.missing)(gitTool.title('receiver runbook example: the version gate'), () => {
  it('accepts a PUT from the head commit (201) and refuses an unknown one (412)', async () => {
    const repo = join(dir, 'gate-repo');
    mkdirSync(repo);
    const git = (...args: string[]): string =>
      run('git', ['-C', repo, '-c', 'user.name=t', '-c', 'user.email=t@example.com', ...args]).trim();
    git('init', '-q');
    git('commit', '-q', '--allow-empty', '-m', 'one');
    const head = git('rev-parse', 'HEAD');
    const child = startExample('version-gate-receiver.ts', [], { VERSION_GATE_REPO: repo, PORT: '0', HOST: '127.0.0.1' });
    try {
      const base = await new Promise<string>((resolve, reject) => {
        createInterface({ input: child.stdout! }).on('line', (line) => {
          const m = /listening on (http:\/\/\S+)/.exec(line);
          if (m) resolve(m[1]!);
        });
        child.once('exit', (code) => reject(new Error(`receiver exited (${String(code)}) before listening`)));
      });
      const ok = await fetch(`${base}/episodes/h/e1`, { method: 'PUT', headers: { 'x-code-commit': head }, body: 'abc' });
      expect(ok.status).toBe(201);
      const old = await fetch(`${base}/episodes/h/e2`, { method: 'PUT', headers: { 'x-code-commit': 'f'.repeat(40) }, body: 'abc' });
      expect(old.status).toBe(412);
      // The example's default remediation, its two lines joined.
      expect(((await old.json()) as { remediation: string }).remediation).toBe(
        'cd /srv/lab-agent && sudo -u lab git pull --ff-only origin main\nsudo systemctl restart lab-agent',
      );
    } finally {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    }
  }, 120_000);
});

/*
 * An operator who does not know a script asks it for help (`--help`,
 * `-h`). The scripts that take a path as their first argument took the
 * flag as that path: the export wrote its tarball as `./--help`, the
 * release bundle wrote a whole offline kit into `./--help/`. Help prints
 * the usage and exits 0; any other word that starts with a dash is refused
 * with exit 2. Nothing is written either way.
 */
const SCRIPTS = ['export-linksets-tarball.ts', 'backfill-store-aoc-19-005.ts', 'release-bundle.ts'];

describe('examples that take a path, given a flag instead', () => {
  it.for(SCRIPTS)('%s --dry-run is refused (exit 2) and writes nothing', { timeout: 120_000 }, async (script) => {
    const cwd = mkdtempSync(join(dir, 'cwd-'));
    const r = await runExample(script, ['--dry-run'], { PGURI: db.url }, cwd);
    expect(r.code, show(r)).toBe(2);
    expect(r.stderr).toMatch(/usage: /);
    expect(readdirSync(cwd)).toEqual([]);
  });
});

/*
 * The partition runbook's scripts and the statement backfill answered
 * `--help` and `-h` with the usage on stderr and exit 2, as for a mistake:
 * an operator's `script --help && …` read as a failure. Like the scripts
 * above, help goes to stdout with exit 0, before any database is named;
 * another flag is still refused with exit 2.
 */
const HELPED = [
  'scanner-artifact-boms-ensure-partitions.ts',
  'scanner-artifact-boms-retention.ts',
  'backfill-statements.ts',
  'demo.ts',
  'version-gate-receiver.ts',
];

/**
 * Runs `script` with `args` in `cwd`, killed as soon as it prints anything but a usage line: the demo and the
 * receiver took no arguments and, given `--help`, ran every step or served for ever.
 */
function askHelp(script: string, args: readonly string[], cwd: string): Promise<ExampleRun> {
  return new Promise((resolve, reject) => {
    const child = startExample(script, args, { PGURI: db.url, PORT: '0' }, cwd);
    let stdout = '';
    let stderr = '';
    child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      stdout += d;
      if (stdout.length >= 7 && !stdout.startsWith('usage: ')) child.kill('SIGKILL');
    });
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('examples asked for help', () => {
  it.for([...SCRIPTS, ...HELPED].flatMap((script) => ['--help', '-h'].map((flag) => ({ script, flag }))))(
    '$script $flag prints the usage to stdout, exits 0 and writes nothing',
    { timeout: 120_000 },
    async ({ script, flag }) => {
      const cwd = mkdtempSync(join(dir, 'cwd-'));
      const r = await askHelp(script, [flag], cwd);
      expect(r.code, show(r)).toBe(0);
      expect(r.stdout).toMatch(/^usage: /);
      expect(r.stderr).toBe('');
      expect(readdirSync(cwd)).toEqual([]);
    },
  );

  it.for(HELPED)('%s --helpp is refused (exit 2) with the usage on stderr', { timeout: 120_000 }, async (script) => {
    const r = await askHelp(script, ['--helpp'], mkdtempSync(join(dir, 'cwd-')));
    expect(r.code, show(r)).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/usage: /);
  });
});

/*
 * An operator pipes a script into `head -1`, or sends its report to a file
 * on a full disk. A closed pipe ended several scripts with Node's stack
 * trace of an unhandled EPIPE (exit 1); a full disk did too, or was not
 * noticed at all: the usage, or a run's report, was lost with exit 0. A
 * closed pipe now changes nothing (exit 0, nothing on stderr), and stdout
 * that cannot be written is said on stderr, without a stack, with exit 1.
 */
const ASKED = [...SCRIPTS, ...HELPED, 'index-backfill.ts'];

describe('examples whose stdout goes nowhere', () => {
  it.for(ASKED)('%s --help into a pipe its reader closed exits 0 without a stack trace', { timeout: 120_000 }, async (script) => {
    const r = await runExample(script, ['--help'], {}, repoRoot, 'closed');
    expect(r.code, show(r)).toBe(0);
    expect(r.stderr).toBe('');
  });

  it.for(ASKED)('%s --help into a full disk says so on stderr and exits 1', { timeout: 120_000 }, async (script) => {
    const full = openSync('/dev/full', 'w');
    let r: ExampleRun;
    try {
      r = await runExample(script, ['--help'], {}, repoRoot, full);
    } finally {
      closeSync(full);
    }
    expect(r.code, show(r)).toBe(1);
    expect(r.stderr).toMatch(/stdout: ENOSPC/);
    expect(r.stderr).not.toMatch(/^\s+at /m);
  });
});
