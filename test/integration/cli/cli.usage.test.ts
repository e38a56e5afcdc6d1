import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cli, cliInProcess, repoRoot } from './cli-harness.js';

const COMMANDS = [
  ['dataset', 'build'],
  ['dataset', 'verify'],
  ['dataset', 'import'],
  ['dataset', 'export'],
  ['dataset', 'rollback'],
  ['checksums', 'verify'],
  ['checksums', 'write'],
  ['partitions', 'ensure'],
  ['partitions', 'retention'],
  ['partitions', 'attach'],
  ['partitions', 'list'],
  ['statements', 'backfill'],
  ['index', 'backfill'],
  ['gate', 'check'],
] as const;

// Each test only reads what its CLIs print (usage errors write nothing): they run at once. Tests of parsing run
// the CLI in this process (cliInProcess); a few spawn the real executable, to see what a user sees of a process.
describe.concurrent('backfill-kit usage', () => {
  it('--help lists every command and the exit codes, exit 0', async () => {
    const r = await cli(['--help']);
    expect(r.code).toBe(0);
    for (const [g, c] of COMMANDS) expect(r.stdout).toContain(`${g} ${c}`);
    for (const code of ['0', '2', '3', '4', '6', '130']) expect(r.stdout).toMatch(new RegExp(`^\\s+${code}  `, 'm'));
  });

  it('<group> <command> --help lists every flag with its default, for every command', async () => {
    const runs = await Promise.all(COMMANDS.map(([group, name]) => cliInProcess([group, name, '--help'])));
    for (const [i, r] of runs.entries()) {
      const [group, name] = COMMANDS[i]!;
      expect(r.code).toBe(0);
      expect(r.stdout).toContain(`Usage: backfill-kit ${group} ${name}`);
      // A flag entry is its `--name` line plus any wrapped continuation lines.
      const entries: string[] = [];
      for (const line of r.stdout.split('\n')) {
        if (/^\s+(-\w, )?--[a-z]/.test(line)) entries.push(line);
        else if (/^\s{6,}\S/.test(line) && entries.length > 0 && !line.includes('backfill-kit')) entries[entries.length - 1] += line;
      }
      expect(entries.length).toBeGreaterThan(4);
      for (const entry of entries) expect(entry, `${group} ${name}: ${entry}`).toMatch(/\(default: [^)]*/);
    }
  });

  it('seed flag names are accepted where the seeds have them', async () => {
    const statements = (await cliInProcess(['statements', 'backfill', '--help'])).stdout;
    for (const f of ['--retrieved-since', '--force', '--batch-size', '--max-documents', '--stop-on-error']) expect(statements).toContain(f);
    expect(statements).toMatch(/--batch-size <n>.*default: 100/);
    const index = (await cliInProcess(['index', 'backfill', '--help'])).stdout;
    for (const f of ['--episodes-root', '--index', '--host', '--dry-run']) expect(index).toContain(f);
    const imp = (await cliInProcess(['dataset', 'import', '--help'])).stdout;
    for (const v of ['env: PGSCHEMA', 'env: DRY_RUN', 'env: LINKSETS_TABLE', 'env: CHUNKS_TABLE', 'default: lnm_raw'])
      expect(imp).toContain(v);
  });

  it('an unknown flag is a usage error (exit 2) with code and fix, and no stack trace', async () => {
    const r = await cli(['dataset', 'import', 'x.tar.zst', '--frobnicate']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^error INVALID_ARGUMENT: .*--frobnicate/m);
    expect(r.stderr).toContain('fix:');
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });

  it('a flag that does nothing for a command is refused (exit 2), never accepted and ignored', async () => {
    const env = { PGURI: 'postgres://127.0.0.1:1/x' };
    // A report enqueues no job, so a heartbeat is not among its flags.
    const report = await cliInProcess(['statements', 'report', '--run-id', 'r', '--heartbeat-seconds', '30'], { env });
    expect(report.code).toBe(2);
    expect(report.stderr).toMatch(/^error INVALID_ARGUMENT: .*--heartbeat-seconds/m);
    // Nothing is written to the reject file unless bad lines are rejected.
    const reject = await cliInProcess(['dataset', 'import', 'x.tar.zst', '--reject-path', 'bad.ndjson'], { env });
    expect(reject.code).toBe(2);
    expect(reject.stderr).toContain('--reject-path applies only with --on-invalid reject: add --on-invalid, or leave it out.');
    const failing = await cliInProcess(['dataset', 'import', 'x.tar.zst', '--on-invalid', 'fail', '--reject-path', 'bad.ndjson'], { env });
    expect(failing.code).toBe(2);
  });

  it('an unknown command and a missing argument are usage errors', async () => {
    expect((await cliInProcess(['dataset', 'explode'])).code).toBe(2);
    expect((await cliInProcess(['nope'])).code).toBe(2);
    const missing = await cliInProcess(['dataset', 'import']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('missing argument: <tarball>');
  });

  it('a mistyped group, command or flag gets a "did you mean"', async () => {
    const group = await cliInProcess(['datset', 'import', 'x.tar.zst']);
    expect(group.code).toBe(2);
    expect(group.stderr).toContain('unknown command group "datset". Did you mean dataset?');
    const command = await cliInProcess(['dataset', 'improt', 'x.tar.zst']);
    expect(command.code).toBe(2);
    expect(command.stderr).toContain('Did you mean dataset import?');
    const flag = await cliInProcess(['statements', 'backfill', '--batchsize', '5']);
    expect(flag.code).toBe(2);
    expect(flag.stderr).toContain('Did you mean --batch-size?');
  });

  it('no database configured: exit 2 naming the variables to set', async () => {
    const r = await cli(['dataset', 'rollback']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/PGURI, CONCELIER_PG_URI, PG_DSN/);
  });

  it('a malformed PG_DSN is a usage error that never echoes the password', async () => {
    const r = await cli(['partitions', 'list'], { env: { PG_DSN: 'Host=db;Password=hunter2;Port=notaport' } });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('PG_DSN');
    expect(r.stderr + r.stdout).not.toContain('hunter2');
  });

  it('bad values: integers, choices, booleans in env', async () => {
    expect(
      (await cliInProcess(['statements', 'backfill', '--batch-size', 'lots'], { env: { PGURI: 'postgres://127.0.0.1:1/x' } })).stderr,
    ).toMatch(/--batch-size must be an integer/);
    expect(
      (await cliInProcess(['dataset', 'import', 'x', '--strategy', 'yolo'], { env: { PGURI: 'postgres://127.0.0.1:1/x' } })).code,
    ).toBe(2);
    const env = await cliInProcess(['dataset', 'import', 'x'], { env: { DRY_RUN: 'maybe' } });
    expect(env.code).toBe(2);
    expect(env.stderr).toContain('DRY_RUN must be true or false');
  });

  it('--json still gives a JSON document on stdout for a usage error', async () => {
    const r = await cli(['dataset', 'import', '--json']);
    expect(r.code).toBe(2);
    expect(JSON.parse(r.stdout)).toMatchObject({
      command: 'dataset import',
      ok: false,
      exitCode: 2,
      error: { code: 'INVALID_ARGUMENT' },
      report: null,
    });
  });

  it("--version prints the package's version, from its package.json", async () => {
    const v = await cli(['--version']);
    expect(v.code).toBe(0);
    expect(v.stdout).toBe(`${(JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { version: string }).version}\n`);
  });
});
