/**
 * A password written on the command line (`--pg postgres://u:pw@…`, a
 * `?password=` or `?sslpassword=` parameter, the keyword form's
 * `Password=`) must not come back in any output: usage errors that quote
 * what was typed, `--json`, `--debug` logs, nor the process title that
 * `ps` shows other users for as long as the command runs.
 */
import { readFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli, jsonOf } from './cli-harness.js';

const SECRET = 's3cretPw';
let server: Server;
const sockets = new Set<Socket>();
let port = 0;

beforeAll(async () => {
  // Accepts and never answers: the command keeps running until PGCONNECT_TIMEOUT.
  server = createServer((socket) => {
    sockets.add(socket);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as { port: number }).port;
});
afterAll(async () => {
  for (const s of sockets) s.destroy();
  await new Promise((resolve) => server.close(resolve));
});

const url = (db: string): string => `postgres://ops:${SECRET}@127.0.0.1:${port}/${db}`;
const dsn = (db: string): string => `Host=127.0.0.1;Port=${port};Database=${db};Username=ops;Password=${SECRET}`;

describe('a password on the command line', () => {
  const cases: [string, () => string[], number][] = [
    ['--pg given twice (URL)', () => ['partitions', 'list', '--pg', url('a'), '--pg', url('b')], 2],
    ['--pg= given twice (keyword form)', () => ['partitions', 'list', `--pg=${dsn('a')}`, `--pg=${dsn('b')}`], 2],
    ['the URL without --pg in front', () => ['partitions', 'list', url('a')], 2],
    ['the URL as the count of partitions ensure', () => ['partitions', 'ensure', url('a')], 2],
    ['the URL after a dash look-alike', () => ['partitions', 'list', '--pg', `\u2013${url('a')}`], 2],
    [
      '?password= under --debug',
      () => ['partitions', 'list', '--debug', '--pg', `postgres://ops@127.0.0.1:${port}/a?password=${SECRET}`],
      6,
    ],
    [
      // Refused (the driver cannot decrypt a key with it), as a usage error.
      '?sslpassword= under --debug',
      () => ['partitions', 'list', '--debug', '--pg', `postgres://ops@127.0.0.1:${port}/a?sslmode=disable&sslpassword=${SECRET}`],
      2,
    ],
  ];
  it.for(cases)('%s: never printed, in text or --json', { timeout: 60_000 }, async ([, args, code]) => {
    for (const json of [[], ['--json']]) {
      const r = await cli([...args(), ...json], { env: { PGCONNECT_TIMEOUT: '1' } });
      expect(r.code, r.stderr).toBe(code);
      if (json.length > 0) jsonOf(r);
      expect(`${r.stdout}\n${r.stderr}`).not.toContain(SECRET);
      // What was typed is still named, password masked (a refused URL is not quoted at all).
      if (code !== 2) expect(`${r.stdout}\n${r.stderr}`).toMatch(/ops:\*\*\*@|Password=\*\*\*|password=\*\*\*/);
    }
  });

  const KEY = '-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIKeyMaterialXyz0\n-----END EC PRIVATE KEY-----';
  const pasted: [string, string[], number][] = [
    ['as --key=', ['checksums', 'verify', 'SHA256SUMS', '--signature', 'SHA256SUMS.sig', `--key=${KEY}`], 2],
    ['as a flag-like word', ['checksums', 'verify', KEY], 2],
    ['after --, as the sums file', ['checksums', 'verify', '--', KEY], 8],
  ];
  it.for(pasted)('a private key pasted where a path belongs (%s) is never printed', async ([, args, code]) => {
    for (const json of [[], ['--json']]) {
      // Before the command's own words, so that it comes before a `--`.
      const r = await cli([...args.slice(0, 2), ...json, ...args.slice(2)]);
      expect(r.code, r.stderr).toBe(code);
      if (json.length > 0) jsonOf(r);
      expect(`${r.stdout}\n${r.stderr}`).not.toContain('KeyMaterialXyz0');
      expect(`${r.stdout}\n${r.stderr}`).toContain('(EC PRIVATE KEY, not shown)');
    }
  });

  const values: [string, () => string][] = [
    ['URL', () => url('a')],
    ['keyword form', () => dsn('a')],
  ];
  it.for(values)('is not in the process title (ps) while the command runs: %s', { timeout: 60_000 }, async ([, value], ctx) => {
    if (process.platform !== 'linux') ctx.skip('skipped: reads /proc/<pid>/cmdline');
    let pid: number | undefined;
    const running = cli(['partitions', 'list', '--pg', value()], { env: { PGCONNECT_TIMEOUT: '8' }, onSpawn: (p) => (pid = p) });
    // The title is set as the CLI starts; until then the command line is the one exec gave.
    let cmdline = '';
    for (let i = 0; i < 150; i += 1) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
      if (!cmdline.includes(SECRET) && cmdline.includes('partitions')) break;
    }
    const r = await running;
    expect(r.code, r.stderr).toBe(6);
    expect(cmdline).toContain('partitions list --pg');
    expect(cmdline).not.toContain(SECRET);
    // The rest of the command line is kept whole, as typed.
    expect(cmdline.trimEnd()).toMatch(
      / --pg (postgres:\/\/ops:\*\*\*@127\.0\.0\.1:\d+\/a|Host=127\.0\.0\.1;Port=\d+;Database=a;Username=ops;Password=\*\*\*)$/,
    );
  });
});
