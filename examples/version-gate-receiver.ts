// Replaces the release receiver runbook's step "gate.check() before ingest": the
// hand-written version_gate.py plus the X-…-Code-Commit check in the PUT
// handler and the [version_gate] config section.
//
// A tiny upload receiver that accepts PUTs only from hosts running one of
// the last VERSION_GATE_WINDOW commits of VERSION_GATE_REPO.
//
//   VERSION_GATE_REPO=. npx tsx examples/version-gate-receiver.ts
//   curl -X PUT --data-binary @episode.tar.zst \
//     -H "x-code-commit: $(git rev-parse HEAD)" http://127.0.0.1:8080/episodes/host-1/ep-1
//
// Environment: VERSION_GATE_REPO (default .), VERSION_GATE_WINDOW (100),
// VERSION_GATE_ENABLED (set to 0 for the emergency "disable and collect"
// switch), VERSION_GATE_REMEDIATION (newline-separated shell lines),
// HOST (127.0.0.1), PORT (8080).
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { acceptedCommit, VersionGate } from '../src/version-gate/index.js';
import { answerHelp, reportStdoutFailure } from '../src/_internals/script-stdout.js';

// A reader that stops early (`| head -1`) is no failure; stdout that cannot be written (a full disk) is, and says so.
reportStdoutFailure('version-gate-receiver');

/** A setting that can never work stops the receiver with exit 2: a receiver that answers 503 for ever heals nothing. */
function badSetting(message: string): never {
  console.error(`version-gate-receiver: ${message}`);
  process.exit(2);
}

// It takes no arguments: `--help` must not start a receiver on the port.
const args = process.argv.slice(2);
const USAGE =
  'usage: version-gate-receiver (no arguments; settings in the environment: VERSION_GATE_REPO, VERSION_GATE_WINDOW, VERSION_GATE_ENABLED, VERSION_GATE_REMEDIATION, HOST, PORT)';
answerHelp(args, USAGE);
if (args.length > 0) badSetting(`${USAGE}; got ${JSON.stringify(args)}`);

// Read as the other examples read DRY_RUN: VERSION_GATE_ENABLED=off must not leave the gate on without a word.
const enabledText = (process.env.VERSION_GATE_ENABLED ?? '').trim().toLowerCase();
if (!['', '0', '1', 'false', 'true', 'no', 'yes', 'off', 'on'].includes(enabledText))
  badSetting(`VERSION_GATE_ENABLED must be 1/true/yes/on or 0/false/no/off, not ${JSON.stringify(process.env.VERSION_GATE_ENABLED)}`);
const portText = (process.env.PORT ?? '8080').trim();
const port = /^\d{1,5}$/.test(portText) ? Number(portText) : Number.NaN;
if (!(port <= 65535)) badSetting(`PORT must be a port number from 0 to 65535, not ${JSON.stringify(process.env.PORT)}`);

// A count of commits, written with digits: Number would read 0x10 as 16 and 1e2 as 100.
const windowText = (process.env.VERSION_GATE_WINDOW ?? '100').trim();
if (!/^[0-9]+$/.test(windowText))
  badSetting(
    `VERSION_GATE_WINDOW must be a number of commits written with the digits 0-9, not ${JSON.stringify(process.env.VERSION_GATE_WINDOW)}`,
  );

const gate = new VersionGate({
  repoPath: process.env.VERSION_GATE_REPO ?? '.',
  window: Number(windowText),
  enabled: !['0', 'false', 'no', 'off'].includes(enabledText),
  remediation: process.env.VERSION_GATE_REMEDIATION ?? [
    'cd /srv/lab-agent && sudo -u lab git pull --ff-only origin main',
    'sudo systemctl restart lab-agent',
  ],
  logger: console,
});

// Fail loudly at startup, but keep serving: until git works the gate answers
// 503 (retryable), never a blind accept. A bad setting (VERSION_GATE_WINDOW=abc)
// never heals, so it stops the receiver instead.
const loaded = await gate.ready();
if (loaded.isErr() && loaded.error.code === 'INVALID_ARGUMENT') {
  await gate.close();
  badSetting(`${loaded.error.message} Fix the setting (VERSION_GATE_WINDOW, VERSION_GATE_REMEDIATION) and start the receiver again.`);
}
if (loaded.isErr()) console.error(`version gate: ${loaded.error.message}`);
else console.log(`version gate: head ${loaded.value.headCommit ?? '(disabled)'}, ${loaded.value.size} recent commits`);

function ingest(req: IncomingMessage, res: ServerResponse): void {
  let bytes = 0;
  req.on('data', (chunk: Buffer) => (bytes += chunk.length));
  req.on('end', () => {
    // Stamp the normalised commit on what gets stored (here: just echo it).
    const commit = acceptedCommit(req)?.commit ?? null;
    res.writeHead(201, { 'content-type': 'application/json' }).end(JSON.stringify({ path: req.url, bytes, commit }));
  });
}

const gated = gate.middleware();
const server = createServer((req, res) => {
  if (req.method === 'GET' && req.url === '/healthz') {
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(gate.status()));
    return;
  }
  if (req.method !== 'PUT' || !req.url?.startsWith('/episodes/')) {
    res.writeHead(404).end();
    return;
  }
  gated(req, res, () => ingest(req, res));
});

server.listen(port, process.env.HOST ?? '127.0.0.1', () => {
  const { address, port } = server.address() as AddressInfo;
  console.log(`receiver listening on http://${address}:${port}`);
});

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => server.close(() => void gate.close()));
}
