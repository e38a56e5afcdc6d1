/**
 * examples/release-bundle.ts end to end: it must pass its own checks, its
 * signatures must verify with openssl, and after tampering sha256sum --check
 * and verifyChecksums must still agree.
 */
import { spawnSync } from 'node:child_process';
import { appendFileSync, mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { preAuthEncoding, verifyChecksums } from '../../../src/verify/index.js';
import { needTools } from '../../support/tmp.js';

const repoRoot = resolve(import.meta.dirname, '..', '..', '..');
const tools = needTools('sha256sum', 'openssl');

let out: string;
let run: ReturnType<typeof spawnSync>;

beforeAll(() => {
  out = mkdtempSync(join(tmpdir(), 'bk-release-bundle-'));
  run = spawnSync(process.execPath, ['--import', 'tsx', join(repoRoot, 'examples', 'release-bundle.ts'), out], {
    cwd: repoRoot,
    encoding: 'utf8',
  });
}, 120_000);

afterAll(() => {
  rmSync(out, { recursive: true, force: true });
});

describe.skipIf(tools.missing)(tools.title('examples/release-bundle.ts'), () => {
  it('builds the offline kit slice and passes its own verification stage', () => {
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    expect(run.stdout).toContain('sha256sum --check: exit 0, same verdicts');
    expect(run.stdout).toContain('all checks passed');
  });

  it('SHA256SUMS.sig and the DSSE manifest verify with openssl', () => {
    writeFileSync(join(out, 'sig.der'), Buffer.from(readFileSync(join(out, 'SHA256SUMS.sig'), 'utf8'), 'base64'));
    expect(
      spawnSync('openssl', ['dgst', '-sha256', '-verify', 'cosign.pub', '-signature', 'sig.der', 'SHA256SUMS'], { cwd: out }).status,
    ).toBe(0);
    const env = JSON.parse(readFileSync(join(out, 'manifest.dsse.json'), 'utf8')) as {
      payload: string;
      payloadType: string;
      signatures: Array<{ sig: string }>;
    };
    writeFileSync(join(out, 'pae.bin'), preAuthEncoding(env.payloadType, Buffer.from(env.payload, 'base64')));
    writeFileSync(join(out, 'dsse.der'), Buffer.from(env.signatures[0]!.sig, 'base64'));
    expect(
      spawnSync('openssl', ['dgst', '-sha256', '-verify', 'cosign.pub', '-signature', 'dsse.der', 'pae.bin'], { cwd: out }).status,
    ).toBe(0);
    const statement = JSON.parse(Buffer.from(env.payload, 'base64').toString('utf8')) as { subject: Array<{ name: string }> };
    expect(statement.subject.map((s) => s.name)).toContain('SHA256SUMS');
  });

  it('after tampering, sha256sum --check and verifyChecksums give the same verdicts', async () => {
    appendFileSync(join(out, 'migrations/21-101/README.md'), 'tampered\n');
    unlinkSync(join(out, 'seeds/object-store/README.md'));
    const gnu = spawnSync('sha256sum', ['--check', 'SHA256SUMS'], { cwd: out, encoding: 'utf8' });
    const report = (await verifyChecksums(join(out, 'SHA256SUMS')))._unsafeUnwrap();
    const ours = report.entries.map(
      (e) => `${e.path}: ${e.status === 'OK' ? 'OK' : e.status === 'FAILED' ? 'FAILED' : 'FAILED open or read'}`,
    );
    expect(gnu.stdout.trim().split('\n')).toEqual(ours);
    expect(gnu.status).not.toBe(0);
    expect(report.ok).toBe(false);
    expect(report.counts).toMatchObject({ ok: 5, failed: 1, missing: 1 });
  });
});
