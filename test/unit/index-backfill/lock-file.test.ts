import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, lstatSync, mkdtempSync, readdirSync, readFileSync, renameSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { acquireLock } from '../../../src/index-backfill/lock-file.js';

const lockPath = (): string => join(mkdtempSync(join(tmpdir(), 'backfill-kit-ib-lock-')), 'index.jsonl.backfill.lock');

/** This process's start time as `/proc/self/stat` gives it (field 22), which the lock records after the host. */
const startTime = (): string => {
  const stat = readFileSync('/proc/self/stat', 'latin1');
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]!;
};

async function deadPid(): Promise<number> {
  const child = spawn('true');
  await new Promise((r) => child.once('exit', r));
  return child.pid!;
}

describe('acquireLock', () => {
  it('is exclusive until released, and holds this process id and host', async () => {
    const path = lockPath();
    const held = (await acquireLock(path))._unsafeUnwrap();
    expect(readFileSync(path, 'utf8')).toBe(`${process.pid}\n${hostname()}\n${startTime()}\n`);
    const second = await acquireLock(path);
    expect(second.isErr() && second.error.code).toBe('LOCKED');
    expect(second.isErr() && second.error.message).toContain(String(process.pid));
    await held.release();
    expect(existsSync(path)).toBe(false);
    (await acquireLock(path))._unsafeUnwrap();
  });

  it('takes over a lock left by a dead process on this host', async () => {
    const path = lockPath();
    writeFileSync(path, `${await deadPid()}\n${hostname()}\n`);
    const held = (await acquireLock(path))._unsafeUnwrap();
    expect(readFileSync(path, 'utf8')).toBe(`${process.pid}\n${hostname()}\n${startTime()}\n`);
    await held.release();
  });

  it('leaves a lock from another host, or one it cannot read, alone', async () => {
    const path = lockPath();
    writeFileSync(path, `${await deadPid()}\nsome-other-host\n`);
    expect((await acquireLock(path)).isErr()).toBe(true);
    writeFileSync(path, '');
    const r = await acquireLock(path);
    expect(r.isErr() && r.error.code).toBe('LOCKED');
  });

  it('does not delete a lock that is no longer its own', async () => {
    const path = lockPath();
    const held = (await acquireLock(path))._unsafeUnwrap();
    writeFileSync(path, `1\n${hostname()}\n`);
    await held.release();
    expect(existsSync(path)).toBe(true);
  });

  it('says a lock is empty, and that it is taken or was left by a run that crashed', async () => {
    const path = lockPath();
    writeFileSync(path, '');
    const r = await acquireLock(path);
    expect(r.isErr() && r.error.message).toMatch(/is empty/);
    expect(r.isErr() && r.error.message).toContain('remove it');
    expect(readFileSync(path, 'utf8')).toBe('');
  });

  it('leaves no empty lock behind when writing its holder fails (a full disk)', () => {
    const path = lockPath();
    const module = resolve('src/index-backfill/lock-file.ts');
    // A file-size limit of 0 makes the write fail with EFBIG after the O_EXCL create succeeded, as a full disk does.
    const script = `process.on('SIGXFSZ', () => {}); const { acquireLock } = await import(${JSON.stringify(module)}); const r = await acquireLock(${JSON.stringify(path)}); console.log(r.isErr() ? r.error.code : 'ok');`;
    const out = execFileSync(
      'bash',
      ['-c', 'ulimit -f 0; exec "$@"', 'bash', process.execPath, '--import', 'tsx', '--input-type=module', '-e', script],
      {
        encoding: 'utf8',
      },
    );
    expect(out.trim()).toBe('IO_ERROR');
    expect(existsSync(path)).toBe(false);
  });

  it('never takes over or calls for removing a file that is not a lock (an index or a tarball given as the lock path)', async () => {
    const path = lockPath();
    // What an index looks like after a run took it for its lock: the holder's lines, then rows.
    const index = `${await deadPid()}\n${hostname()}\n{"episode_id": "from-the-receiver"}\n`;
    writeFileSync(path, index);
    const r = await acquireLock(path);
    expect(r.isErr() && r.error.code).toBe('LOCKED');
    expect(r.isErr() && r.error.message).toContain('not a backfill lock');
    expect(r.isErr() && r.error.message).not.toContain('remove');
    expect(readFileSync(path, 'utf8')).toBe(index);

    const tarball = Buffer.concat([Buffer.from([0x28, 0xb5, 0x2f, 0xfd]), Buffer.alloc(4096, 7)]);
    writeFileSync(path, tarball);
    const t = await acquireLock(path);
    expect(t.isErr() && t.error.message).toContain('not a backfill lock');
    expect(readFileSync(path)).toEqual(tarball);
  });

  it('neither follows nor retries on a symbolic link planted at the lock path (a shared /tmp)', async () => {
    const path = lockPath();
    const victim = `${path}.victim`;
    writeFileSync(victim, `${await deadPid()}\n${hostname()}\n`); // even a file that reads like a stale lock
    symlinkSync(victim, path);
    const r = await acquireLock(path);
    expect(r.isErr() && r.error.message).toContain('not a backfill lock');
    expect(readFileSync(victim, 'utf8')).toMatch(/^\d+\n/);
    expect(lstatSync(path).isSymbolicLink()).toBe(true);
    const dangling = lockPath();
    symlinkSync(`${dangling}.nowhere`, dangling);
    const d = await acquireLock(dangling);
    expect(d.isErr() && d.error.message).toContain('not a backfill lock');
    expect(existsSync(`${dangling}.nowhere`)).toBe(false);
  });

  it('takes over a stale lock whose remover died too, leaving its marker', async () => {
    const path = lockPath();
    const stale = `${await deadPid()}\n${hostname()}\n`;
    writeFileSync(path, stale);
    const marker = `${path}.break-${createHash('sha256').update(stale).digest('hex').slice(0, 16)}`;
    writeFileSync(marker, `${await deadPid()}\n${hostname()}\n`);
    const held = (await acquireLock(path))._unsafeUnwrap();
    expect(readFileSync(path, 'utf8')).toBe(`${process.pid}\n${hostname()}\n${startTime()}\n`);
    expect(existsSync(marker)).toBe(false);
    await held.release();
    expect(readdirSync(dirname(path))).toEqual([]);
  });

  it('waits while a live process removes the same stale lock, then says who holds it', async () => {
    const path = lockPath();
    const stale = `${await deadPid()}\n${hostname()}\n`;
    writeFileSync(path, stale);
    // A live remover (this test's sleep) holds the marker: the take waits, and once the remover's lock is in place, is LOCKED.
    const remover = spawn('sleep', ['30'], { stdio: 'ignore' });
    const marker = `${path}.break-${createHash('sha256').update(stale).digest('hex').slice(0, 16)}`;
    writeFileSync(marker, `${remover.pid}\n${hostname()}\n`);
    try {
      const taking = acquireLock(path);
      await new Promise((r) => setTimeout(r, 100));
      writeFileSync(`${path}.new`, `${remover.pid}\n${hostname()}\n`);
      renameSync(`${path}.new`, path);
      unlinkSync(marker);
      const taken = await taking;
      expect(taken.isErr() && taken.error.code).toBe('LOCKED');
      expect(taken.isErr() && taken.error.message).toContain(`held by process ${remover.pid}`);
    } finally {
      remover.kill('SIGKILL');
    }
  });
});
