import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildEpisodeTarball } from '../../../src/testing/index.js';
import { hasTool, needTools, run, tempDir } from '../../support/tmp.js';
import { cli, jsonOf } from './cli-harness.js';

const hasSha256sum = hasTool('sha256sum');
const gitTool = needTools('git');
const opensslTool = needTools('openssl');
if (!hasSha256sum) console.warn('[cli.files] sha256sum missing: the sha256sum oracle comparisons are skipped');

describe('backfill-kit checksums', () => {
  const dir = tempDir('bk-cli-sums-');
  writeFileSync(join(dir, 'a.bin'), 'alpha\n');
  writeFileSync(join(dir, 'b file.txt'), 'bravo\n');

  it('write produces exactly what sha256sum prints, and verify agrees with sha256sum --check', async () => {
    const w = await cli(['checksums', 'write', 'SHA256SUMS', 'b file.txt', 'a.bin'], { cwd: dir });
    expect(w.code, w.stderr).toBe(0);
    if (hasSha256sum) {
      expect(readFileSync(join(dir, 'SHA256SUMS'), 'utf8')).toBe(run('sha256sum', ['a.bin', 'b file.txt'], { cwd: dir }));
      expect(run('sha256sum', ['--check', 'SHA256SUMS'], { cwd: dir })).toContain('a.bin: OK');
    }
    const v = await cli(['checksums', 'verify', join(dir, 'SHA256SUMS')]);
    expect(v.code).toBe(0);
    expect(v.stdout).toContain('a.bin: OK');
    expect(v.stdout).toContain('b file.txt: OK');
  });

  it('a sums file saved with a byte-order mark: the warning names the line sha256sum skips, and why', async () => {
    const sums = join(dir, 'SHA256SUMS.bom');
    const line = (name: string): string =>
      `${createHash('sha256')
        .update(readFileSync(join(dir, name)))
        .digest('hex')}  ${name}\n`;
    const listed = line('a.bin') + line('b file.txt');
    writeFileSync(sums, `\ufeff${listed}`);
    if (hasSha256sum) expect(run('sha256sum', ['--check', 'SHA256SUMS.bom'], { cwd: dir })).toBe('b file.txt: OK\n');
    const v = await cli(['checksums', 'verify', sums]);
    expect(v.code).toBe(0);
    expect(v.stdout).toContain(
      `WARNING: 1 line is improperly formatted\n  ${sums} line 1: improperly formatted SHA256 checksum line (the file starts with a UTF-8 byte-order mark`,
    );
  });

  it('a changed file exits 3, printing FAILED like sha256sum', async () => {
    writeFileSync(join(dir, 'a.bin'), 'tampered\n');
    const v = await cli(['checksums', 'verify', join(dir, 'SHA256SUMS')]);
    expect(v.code).toBe(3);
    expect(v.stdout).toContain('a.bin: FAILED');
    expect(v.stderr).toMatch(/^error CHECKSUM_MISMATCH: /m);
    if (hasSha256sum) expect(() => run('sha256sum', ['--check', 'SHA256SUMS'], { cwd: dir })).toThrow();
    // With --json the verdicts are the report, once: the error names the first problem and does not repeat them.
    const doc = jsonOf(await cli(['checksums', 'verify', join(dir, 'SHA256SUMS'), '--json']));
    expect(doc).toMatchObject({ ok: false, exitCode: 3, error: { code: 'CHECKSUM_MISMATCH' }, report: { ok: false, counts: { ok: 1 } } });
    expect(doc.error).not.toHaveProperty('partial');
  });

  it.skipIf(opensslTool.missing)(
    opensslTool.title('--signature/--key checks the sums file like cosign verify-blob; a bad signature exits 3 before hashing'),
    async () => {
      writeFileSync(join(dir, 'a.bin'), 'alpha\n');
      run('openssl', ['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', 'key.pem'], { cwd: dir });
      run('openssl', ['ec', '-in', 'key.pem', '-pubout', '-out', 'cosign.pub'], { cwd: dir });
      const sig = execFileSync('openssl', ['dgst', '-sha256', '-sign', 'key.pem', 'SHA256SUMS'], { cwd: dir });
      writeFileSync(join(dir, 'SHA256SUMS.sig'), sig.toString('base64'));
      const ok = await cli(['checksums', 'verify', 'SHA256SUMS', '--signature', 'SHA256SUMS.sig', '--key', 'cosign.pub'], { cwd: dir });
      expect(ok.code, ok.stderr).toBe(0);
      expect(ok.stdout).toMatch(/^signature: Verified OK/m);
      writeFileSync(join(dir, 'SHA256SUMS.sig'), Buffer.from(sig.map((b, i) => (i === 10 ? b ^ 1 : b))).toString('base64'));
      const bad = await cli(['checksums', 'verify', 'SHA256SUMS', '--signature', 'SHA256SUMS.sig', '--key', 'cosign.pub'], { cwd: dir });
      expect(bad.code).toBe(3);
      expect(bad.stderr).toMatch(/^error SIGNATURE_INVALID: /m);
      expect(bad.stdout).not.toContain(': OK');
    },
  );

  it('a missing sums file exits 8 (I/O)', async () => {
    const v = await cli(['checksums', 'verify', join(dir, 'NOPE')]);
    expect(v.code).toBe(8);
    expect(v.stderr).toMatch(/^error IO_ERROR: /m);
  });
});

describe('backfill-kit index backfill', () => {
  const dir = tempDir('bk-cli-index-');
  const root = join(dir, 'episodes');
  const index = join(dir, 'index.jsonl');

  it('dry run prints the counts and writes nothing; the real run appends rows an independent hash agrees with', async () => {
    const shas = new Map<string, string>();
    for (const host of ['h1', 'h2']) {
      for (const n of [1, 2]) {
        const id = `${host}-ep${n}`;
        const path = join(root, host, `${id}.tar.zst`);
        (
          await buildEpisodeTarball({ meta: { code_version: { commit: 'ab'.repeat(20) } }, files: { 'x.bin': `${id}` }, path })
        )._unsafeUnwrap();
        shas.set(id, createHash('sha256').update(readFileSync(path)).digest('hex'));
      }
    }
    writeFileSync(index, `${JSON.stringify({ episode_id: 'h1-ep1', host_id: 'h1' })}\n`);
    const dry = await cli(['index', 'backfill', '--episodes-root', root, '--index', index, '--dry-run']);
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout).toContain('scanned: 4 already-indexed: 1 to-backfill: 3');
    expect(readFileSync(index, 'utf8').trim().split('\n')).toHaveLength(1);
    const host = await cli(['index', 'backfill', '--episodes-root', root, '--index', index, '--host', 'h2', '--json']);
    expect(jsonOf(host).report).toMatchObject({ scanned: 2, toBackfill: 2, appended: 2 });
    const realRun = await cli(['index', 'backfill', '--episodes-root', root, '--index', index]);
    expect(realRun.code).toBe(0);
    expect(realRun.stdout).toContain(`backfilled 1 row into ${index}`);
    const rows = readFileSync(index, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { episode_id: string; sha256?: string; commit?: string });
    expect(rows).toHaveLength(4);
    for (const row of rows.slice(1)) {
      expect(row.sha256).toBe(shas.get(row.episode_id));
      expect(row.commit).toBe('ab'.repeat(20));
    }
  });

  it('a missing episodes root exits 2 like index_backfill.py of the receiver runbook, and the flags are required', async () => {
    const r = await cli(['index', 'backfill', '--episodes-root', join(dir, 'nope'), '--index', index]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^error EPISODES_ROOT_MISSING: /m);
    expect(existsSync(join(dir, 'nope'))).toBe(false);
    expect((await cli(['index', 'backfill', '--index', index])).code).toBe(2);
  });

  it('an index line over --max-index-line-bytes stops the run; the report so far is printed once, as the report', async () => {
    const before = readFileSync(index);
    const json = await cli(['index', 'backfill', '--episodes-root', root, '--index', index, '--max-index-line-bytes', '16', '--json']);
    const doc = jsonOf(json);
    expect(doc).toMatchObject({ ok: false, error: { code: 'LINE_TOO_LONG' }, report: { scanned: 4, appended: 0, rows: [] } });
    expect(doc.error).not.toHaveProperty('partial');
    const text = await cli(['index', 'backfill', '--episodes-root', root, '--index', index, '--max-index-line-bytes', '16']);
    expect(text.code).toBe(json.code);
    expect(text.stdout).toMatch(/^The run stopped; so far:\nscanned: 4 /);
    expect(readFileSync(index).equals(before)).toBe(true);
  });

  it('--max-meta-bytes sets the largest meta.json read: a dry run under it warns, names the flag and exits 5 (a row would have no commit), a run with it large enough gets the commit', async () => {
    const bigRoot = join(dir, 'big-meta');
    const bigIndex = join(dir, 'big-meta.jsonl');
    const meta = { code_version: { commit: 'cd'.repeat(20) }, notes: 'n'.repeat(64 * 1024) };
    (await buildEpisodeTarball({ meta, files: {}, path: join(bigRoot, 'h', 'big.tar.zst') }))._unsafeUnwrap();
    const dry = await cli(['index', 'backfill', '--episodes-root', bigRoot, '--index', bigIndex, '--dry-run', '--max-meta-bytes', '4096']);
    expect(dry.code, dry.stderr).toBe(5);
    expect(dry.stdout).toContain('larger than maxMetaBytes (4096 bytes; --max-meta-bytes');
    expect(dry.stdout).not.toContain('"commit"');
    const real = await cli(['index', 'backfill', '--episodes-root', bigRoot, '--index', bigIndex, '--max-meta-bytes', '1048576']);
    expect(real.code, real.stderr).toBe(0);
    expect(JSON.parse(readFileSync(bigIndex, 'utf8'))).toMatchObject({ episode_id: 'big', commit: 'cd'.repeat(20) });
  });
});

describe.skipIf(gitTool.missing)(gitTool.title('backfill-kit gate check'), () => {
  const repo = tempDir('bk-cli-gate-');
  const commits: string[] = [];
  const git = (...args: string[]): string =>
    run('git', ['-C', repo, '-c', 'user.name=t', '-c', 'user.email=t@example.com', ...args]).trim();

  it('accepts a recent commit (exit 0) and refuses an old one with the remediation (exit 7)', async () => {
    mkdirSync(repo, { recursive: true });
    git('init', '-q');
    for (let i = 0; i < 4; i += 1) {
      git('commit', '-q', '--allow-empty', '-m', `c${i}`);
      commits.push(git('rev-parse', 'HEAD'));
    }
    const head = await cli(['gate', 'check', commits[3]!, '--repo', repo, '--window', '2']);
    expect(head.code, head.stderr).toBe(0);
    expect(head.stdout).toContain('is 0 commits behind head');
    const one = await cli(['gate', 'check', commits[2]!.toUpperCase(), '--repo', repo, '--window', '2', '--json']);
    expect(jsonOf(one).report).toMatchObject({ accepted: true, behind: 1 });
    const old = await cli([
      'gate',
      'check',
      commits[0]!,
      '--repo',
      repo,
      '--window',
      '2',
      '--remediation',
      'cd /opt/app && git pull origin main',
    ]);
    expect(old.code).toBe(7);
    expect(old.stdout).toContain('refused (HTTP 412)');
    expect(old.stdout).toContain('  cd /opt/app && git pull origin main');
    expect(old.stderr).toMatch(/^error COMMIT_NOT_RECENT: /m);
  });

  it.for([
    ['not-a-hash', /^<commit> must be a commit hash of hex digits only .*"not-a-hash".*git rev-parse HEAD/],
    ['abc1234', /^<commit> looks like an abbreviated hash \(7 hex digits\)/],
    ['a'.repeat(41), /^<commit> has 41 hex digits/],
  ] as const)(
    'a malformed commit (%s) is a usage error (exit 2) about the argument, with no remediation to pull',
    async ([value, message]) => {
      const r = await cli(['gate', 'check', value, '--repo', repo, '--json']);
      expect(r.code).toBe(2);
      const doc = jsonOf(r);
      expect(doc.error?.code).toBe('INVALID_ARGUMENT');
      expect(doc.error?.message).toMatch(message);
      expect(doc.error?.message).not.toMatch(/header/i);
      expect(doc.report).toBeNull();
      const text = await cli(['gate', 'check', value, '--repo', repo]);
      expect(text.code).toBe(2);
      expect(text.stdout).toBe('');
      expect(text.stderr).not.toMatch(/remediation|git pull|HTTP 400/);
    },
  );

  it('a remediation line with a control character is a usage error (exit 2), not a refusal', async () => {
    const r = await cli(['gate', 'check', commits[3]!, '--repo', repo, '--remediation', 'echo \u001b[31m']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^error INVALID_ARGUMENT: .*remediation/m);
  });
});
