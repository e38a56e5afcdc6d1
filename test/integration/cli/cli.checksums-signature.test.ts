/**
 * `checksums verify --signature --key` replaces `cosign verify-blob` +
 * `sha256sum --check`: the lines checked are the very bytes the signature
 * covers (the sums file is read once), and the sums file may be a pipe.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, readlinkSync, renameSync, writeFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { needTools, run, tempDir } from '../../support/tmp.js';
import { cli, jsonOf } from './cli-harness.js';

const opensslTool = needTools('openssl');
const sha = (data: string | Buffer) => createHash('sha256').update(data).digest('hex');

/** good.tar.zst (listed in the signed sums), evil.tar.zst (never signed), and an openssl P-256 key pair. */
function bundle(): { dir: string; signSums: (sums: Buffer) => void } {
  const dir = tempDir('bk-cli-signed-sums-');
  writeFileSync(join(dir, 'good.tar.zst'), 'the released dataset');
  writeFileSync(join(dir, 'evil.tar.zst'), 'a dataset nobody signed');
  run('openssl', ['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', 'key.pem'], { cwd: dir });
  run('openssl', ['ec', '-in', 'key.pem', '-pubout', '-out', 'cosign.pub'], { cwd: dir });
  const signSums = (sums: Buffer): void => {
    writeFileSync(join(dir, 'to-sign'), sums);
    const sig = execFileSync('openssl', ['dgst', '-sha256', '-sign', 'key.pem', 'to-sign'], { cwd: dir });
    writeFileSync(join(dir, 'SHA256SUMS.sig'), sig.toString('base64'));
  };
  return { dir, signSums };
}

/** Whether process `pid` has `path` open; `undefined` once it has exited. */
function holdsOpen(pid: number, path: string): boolean | undefined {
  try {
    if (/^\d+ \(.*\) [ZX]/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'))) return undefined;
    return readdirSync(`/proc/${pid}/fd`).some((fd) => {
      try {
        return readlinkSync(`/proc/${pid}/fd/${fd}`) === path;
      } catch {
        return false; // closed while listed
      }
    });
  } catch {
    return undefined;
  }
}

describe.skipIf(opensslTool.missing)(opensslTool.title('backfill-kit checksums verify --signature'), () => {
  it('checks the lines the signature covers, even when SHA256SUMS is replaced while the CLI has it open', async () => {
    const { dir, signSums } = bundle();
    // Comment lines (which sha256sum skips) make the signed file large enough to be caught open.
    const signed = Buffer.concat([Buffer.from(`${sha('the released dataset')}  good.tar.zst\n`), Buffer.alloc(15 << 20, '#\n')]);
    signSums(signed);
    const sums = join(dir, 'SHA256SUMS');
    // A loaded machine can deschedule the spinning test past the whole window: try the swap again (up to 5 times) until it lands.
    let replaced = false;
    let result: Awaited<ReturnType<typeof cli>> | undefined;
    for (let attempt = 0; attempt < 5 && !replaced; attempt += 1) {
      writeFileSync(sums, signed);
      writeFileSync(join(dir, 'unsigned'), `${sha('a dataset nobody signed')}  evil.tar.zst\n`);
      result = await cli(['checksums', 'verify', sums, '--signature', 'SHA256SUMS.sig', '--key', 'cosign.pub', '--json'], {
        cwd: dir,
        // Spin (no timers: the window is milliseconds) until the CLI holds the signed file open, then swap the path.
        onSpawn: (pid) => {
          const deadline = Date.now() + 30_000;
          let open = holdsOpen(pid, sums);
          while (open === false && Date.now() < deadline) open = holdsOpen(pid, sums);
          if (open !== true) return;
          renameSync(join(dir, 'unsigned'), sums);
          replaced = true;
        },
      });
    }
    expect(replaced).toBe(true);
    if (result === undefined) throw new Error('the CLI never ran');
    expect(result.stdout).not.toMatch(/evil\.tar\.zst/);
    const doc = jsonOf(result);
    expect(doc, result.stderr).toMatchObject({ ok: true, exitCode: 0, report: { ok: true, signature: { sha256: sha(signed) } } });
    expect(doc.report.entries.map((e: { path: string; status: string }) => [e.path, e.status])).toEqual([['good.tar.zst', 'OK']]);
  }, 60_000);

  it('a piped SHA256SUMS (a FIFO, as <(curl …) gives) is verified with --signature as without it', async () => {
    const { dir, signSums } = bundle();
    const signed = Buffer.from(`${sha('the released dataset')}  good.tar.zst\n`);
    signSums(signed);
    const fifo = join(dir, 'SHA256SUMS');
    execFileSync('mkfifo', [fifo]);
    const writer = writeFile(fifo, signed);
    const result = await cli(['checksums', 'verify', fifo, '--signature', 'SHA256SUMS.sig', '--key', 'cosign.pub'], { cwd: dir });
    // A CLI that refused the pipe left the writer waiting for a reader: be that reader, so nothing hangs.
    if (result.code !== 0) readFileSync(fifo);
    await writer;
    expect(result.code, `${result.stdout}${result.stderr}`).toBe(0);
    expect(result.stdout).toMatch(/^signature: Verified OK/m);
    expect(result.stdout).toMatch(/^good\.tar\.zst: OK$/m);
  }, 60_000);

  it('<(cat SHA256SUMS), - and /dev/stdin check the names against the working directory, as sha256sum --check does', async () => {
    const { dir, signSums } = bundle();
    const signed = Buffer.from(`${sha('the released dataset')}  good.tar.zst\n`);
    signSums(signed);
    writeFileSync(join(dir, 'SHA256SUMS'), signed);
    // The oracle: GNU sha256sum reads each name relative to the working directory.
    expect(run('bash', ['-c', 'sha256sum --check <(cat SHA256SUMS)'], { cwd: dir })).toMatch(/^good\.tar\.zst: OK$/m);
    for (const args of [[], ['--signature', 'SHA256SUMS.sig', '--key', 'cosign.pub']]) {
      const result = await cli(['checksums', 'verify', ...args], { cwd: dir, shellWords: '<(cat SHA256SUMS)' });
      // It used to look for /dev/fd/good.tar.zst and advise restoring the file.
      expect(result.code, `${result.stdout}${result.stderr}`).toBe(0);
      expect(result.stdout).toMatch(/^good\.tar\.zst: OK$/m);
    }
    // Piped in as - (standard input, as sha256sum reads it) or /dev/stdin, the same.
    expect(run('bash', ['-c', 'sha256sum --check - < SHA256SUMS'], { cwd: dir })).toMatch(/^good\.tar\.zst: OK$/m);
    const dash = await cli(['checksums', 'verify', '-'], { cwd: dir, shellWords: '< SHA256SUMS' });
    expect(dash.code, `${dash.stdout}${dash.stderr}`).toBe(0);
    expect(dash.stdout).toMatch(/^good\.tar\.zst: OK$/m);
    // Piped in as /dev/stdin, the same.
    const piped = await cli(['checksums', 'verify', '/dev/stdin'], { cwd: dir, shellWords: '< SHA256SUMS' });
    expect(piped.code, `${piped.stdout}${piped.stderr}`).toBe(0);
    expect(piped.stdout).toMatch(/^good\.tar\.zst: OK$/m);
    // --base-dir still wins.
    const elsewhere = await cli(['checksums', 'verify', '--base-dir', '/'], { cwd: dir, shellWords: '<(cat SHA256SUMS)' });
    expect(elsewhere.code).toBe(3);
  }, 60_000);
});
