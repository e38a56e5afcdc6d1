/**
 * The fix line of a DB_CONNECTION for causes a test cannot provoke cheaply
 * on a shared server (a DNS server that does not answer, no route, a reset,
 * a server starting up or shutting down, a rejected password, a
 * certificate): the errors are shaped as the driver and Node.js give them,
 * and go through the one classifier the CLI's errors go through. The
 * causes a real server and a closed port can give are spawned in
 * test/integration/cli/cli.db-connection-fix.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { connectTimedOut, isPassingConnectionLoss, notPostgres, pgErrorToBackfill } from '../../../src/_internals/pg.js';
import { formatError, reworded } from '../../../src/cli/output.js';
import { BackfillError, ERROR_CODES } from '../../../src/errors.js';
import { lostConnection } from '../../../src/staging/pg-staging-session.js';

/** A Node.js system error as `net` and `dns` give it. */
function systemError(code: string, syscall: string, fields: Record<string, unknown>): Error {
  return Object.assign(new Error(`${syscall} ${code}`), { code, syscall, ...fields });
}

/** A server's error as the driver gives it (its `routine` is the server's function that raised it). */
function serverError(code: string, message: string, routine = 'ClientAuthentication'): Error {
  return Object.assign(new Error(message), { code, severity: 'FATAL', routine });
}

function fixOf(error: BackfillError): string {
  return /^ {2}fix: {5}(.*)$/m.exec(formatError(error, false))?.[1] ?? '';
}

const generic = ERROR_CODES.DB_CONNECTION.fix;

describe('the fix line of a DB_CONNECTION by its cause', () => {
  it.for([
    [
      'EAI_AGAIN (the name server did not answer)',
      systemError('EAI_AGAIN', 'getaddrinfo', { hostname: 'db.internal' }),
      /^The name server did not answer for db\.internal: check this machine's DNS/,
    ],
    [
      // PGHOST=db1,db2 or postgres://db1,db2/x: libpq's failover list, which the driver looks up as one name.
      'a list of hosts (ENOTFOUND of a name with commas)',
      systemError('ENOTFOUND', 'getaddrinfo', { hostname: 'db1.internal,db2.internal' }),
      /^db1\.internal,db2\.internal is a list of hosts, and the driver connects to one host only \(multi-host failover is not supported\): name one host in --pg \(or PGURI, PG_DSN, PGHOST\)\.$/,
    ],
    [
      'EHOSTUNREACH',
      systemError('EHOSTUNREACH', 'connect', { address: '10.1.2.3', port: 5432 }),
      /^There is no route to 10\.1\.2\.3:5432: check the network and firewalls/,
    ],
    [
      'ENETUNREACH (IPv6)',
      systemError('ENETUNREACH', 'connect', { address: '2001:db8::1', port: 5433 }),
      /^There is no route to \[2001:db8::1\]:5433: /,
    ],
    [
      'ETIMEDOUT from the system',
      systemError('ETIMEDOUT', 'connect', { address: '10.1.2.3', port: 5432 }),
      /^10\.1\.2\.3:5432 did not answer in time: .*firewall.*PGCONNECT_TIMEOUT/,
    ],
    [
      'the connect timeout',
      connectTimedOut('db.internal', 6432, 30_000, 'PGCONNECT_TIMEOUT'),
      /^db\.internal:6432 did not answer in time: /,
    ],
    [
      'ECONNREFUSED on every address of a host (AggregateError)',
      Object.assign(new AggregateError([systemError('ECONNREFUSED', 'connect', { address: '::1', port: 5432 })], ''), {
        code: 'ECONNREFUSED',
      }),
      /^Nothing accepts connections at \[::1\]:5432: start PostgreSQL there/,
    ],
    [
      'no Unix socket',
      systemError('ENOENT', 'connect', { address: '/var/run/postgresql/.s.PGSQL.5432' }),
      /^Nothing accepts connections at \/var\/run\/postgresql\/\.s\.PGSQL\.5432: /,
    ],
    [
      'ECONNRESET',
      systemError('ECONNRESET', 'read', {}),
      /^The connection was cut .*: rerun once the server accepts connections \(pg_isready\); a statement backfill resumes from its last committed batch with the same --run-id\.$/,
    ],
    ['Connection terminated unexpectedly', new Error('Connection terminated unexpectedly'), /^The connection was cut /],
    [
      // pg-pool's connect timeout, as the job engine's pool (given PGCONNECT_TIMEOUT) ends a connection that got no answer.
      'the job engine pool’s connect timeout',
      new Error('Connection terminated due to connection timeout', { cause: new Error('Connection terminated unexpectedly') }),
      /^The server did not answer in time: .*PGCONNECT_TIMEOUT/,
    ],
    ['08P01', serverError('08P01', 'invalid frontend message type'), /^The connection was cut /],
    [
      '57P01 (shutting down)',
      serverError('57P01', 'terminating connection due to administrator command', 'ProcessInterrupts'),
      /^The server is starting up, shutting down, restarting or recovering: wait until it accepts connections \(pg_isready\) and rerun; a statement backfill resumes from its last committed batch with the same --run-id\.$/,
    ],
    [
      '57P03 (starting up)',
      serverError('57P03', 'the database system is starting up', 'ProcessStartupPacket'),
      /^The server is starting up, shutting down, restarting or recovering: /,
    ],
    [
      '57P05 (idle_session_timeout)',
      serverError('57P05', 'terminating connection due to idle-session timeout', 'ProcessInterrupts'),
      /^The server ended the session on its idle_session_timeout, .*ALTER ROLE/,
    ],
    [
      '28P01 (wrong password)',
      serverError('28P01', 'password authentication failed for user "ops"', 'auth_failed'),
      /^The server rejected the login: check the user and password \(in the URL, PGUSER, PGPASSWORD or ~\/\.pgpass\) and .*pg_hba\.conf/,
    ],
    [
      '28000 (no pg_hba.conf entry)',
      serverError('28000', 'no pg_hba.conf entry for host "10.0.0.9", user "ops", database "x", no encryption', 'ClientAuthentication'),
      /^The server rejected the login: .*pg_hba\.conf .*sslmode=require/,
    ],
    [
      '28000 (role missing)',
      serverError('28000', 'role "opz" does not exist', 'InitializeSessionUserId'),
      /^The user the connection names is not a role on this server, or may not log in: fix the user in --pg \(or PGURI, PG_DSN, PGUSER\)/,
    ],
    [
      '53300 (too many clients)',
      serverError('53300', 'sorry, too many clients already', 'ProcessStartupPacket'),
      /^The server has no connection slot left .*statements worker --concurrency.*raise the limit/,
    ],
    [
      'a certificate (SELF_SIGNED_CERT_IN_CHAIN)',
      Object.assign(new Error('self-signed certificate in certificate chain'), { code: 'SELF_SIGNED_CERT_IN_CHAIN' }),
      /^The server's certificate was not accepted: name the CA that signed it with sslrootcert=<file> in the URL/,
    ],
    [
      // What a server gets that sends its own certificate without the private CA that signed it.
      'a certificate whose issuer is not known (UNABLE_TO_VERIFY_LEAF_SIGNATURE)',
      Object.assign(new Error('unable to verify the first certificate'), { code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' }),
      /^The server's certificate was not accepted: name the CA that signed it with sslrootcert=<file> in the URL/,
    ],
    [
      'a CA certificate that may not sign (INVALID_CA)',
      Object.assign(new Error('invalid CA certificate'), { code: 'INVALID_CA' }),
      /^The server's certificate was not accepted: /,
    ],
    [
      // The alert of a server whose pg_hba.conf says clientcert=verify-full (hostssl … cert) to a client that sent none.
      'the server wants a client certificate (ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED)',
      Object.assign(new Error('ssl3_read_bytes:tlsv13 alert certificate required'), {
        code: 'ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED',
        library: 'SSL routines',
      }),
      /^The server wants a client certificate, or did not accept this one: .*sslcert=<file> and sslkey=<file>/,
    ],
    [
      'the server does not know the CA of the client certificate (ERR_SSL_TLSV1_ALERT_UNKNOWN_CA)',
      Object.assign(new Error('ssl3_read_bytes:tlsv1 alert unknown ca'), {
        code: 'ERR_SSL_TLSV1_ALERT_UNKNOWN_CA',
        library: 'SSL routines',
      }),
      /^The server wants a client certificate, or did not accept this one: /,
    ],
    [
      'a certificate for another name (ERR_TLS_CERT_ALTNAME_INVALID)',
      Object.assign(new Error("Hostname/IP does not match certificate's altnames"), { code: 'ERR_TLS_CERT_ALTNAME_INVALID' }),
      /^The server's certificate was not accepted: /,
    ],
    [
      'an OpenSSL error',
      Object.assign(new Error('wrong version number'), { code: 'ERR_SSL_WRONG_VERSION_NUMBER', library: 'SSL routines' }),
      /^The SSL handshake with the server failed: check sslmode \(in the URL or PGSSLMODE\), sslrootcert, sslcert and sslkey/,
    ],
    [
      "the driver's SSL request answered with neither S nor N (not PostgreSQL, with sslmode=require)",
      new Error('There was an error establishing an SSL connection'),
      /^The server at that host and port did not speak the PostgreSQL protocol .*: check the port/,
    ],
    [
      'the same answer to the CLI, which knows where it asked',
      notPostgres('db.internal', 8080),
      /^The server at db\.internal:8080 did not speak the PostgreSQL protocol .*: check the port/,
    ],
  ] as const)('%s', ([, driverError, fix]) => {
    const error = pgErrorToBackfill(driverError);
    expect(error.code).toBe('DB_CONNECTION');
    expect(fixOf(error)).toMatch(fix);
  });

  it('reads the cause through an error the CLI reworded and one that wraps it (a worker that waited out an outage)', () => {
    const refused = pgErrorToBackfill(serverError('3D000', 'database "scaner" does not exist', 'InitPostgres'));
    const waited = new BackfillError('DB_CONNECTION', 'the database was unreachable for 60 s', { cause: refused });
    expect(fixOf(reworded(waited, (m) => `${m}.`))).toMatch(/^The database the connection names does not exist on this server: /);
  });

  it('an import whose connection was cut while COMMIT was in flight is not told to rerun by its cause alone: its message says to compare first', () => {
    const cut = pgErrorToBackfill(new Error('Connection terminated unexpectedly'));
    const inFlight = lostConnection(cut, true);
    expect(inFlight.message).toMatch(/compare the tables' row counts with the dataset's manifest/);
    expect(fixOf(inFlight)).toMatch(
      /^The import may or may not have committed: compare the tables' row counts with the dataset's manifest/,
    );
    expect(fixOf(reworded(inFlight, (m) => `${m}.`))).toBe(fixOf(inFlight));
    // Before COMMIT was sent, nothing was committed: the cause's fix stands.
    expect(fixOf(lostConnection(cut, false))).toMatch(/^The connection was cut /);
  });

  it('keeps the generic fix when the error does not tell its cause', () => {
    expect(fixOf(new BackfillError('DB_CONNECTION', 'run "r" lost its run lock'))).toBe(generic);
    expect(fixOf(pgErrorToBackfill(new Error('something else')))).toBe(generic);
  });

  it('53300 is a DB_CONNECTION that passes (a worker waits it out), no longer a DB_ERROR', () => {
    const error = pgErrorToBackfill(serverError('53300', 'too many connections for role "ops"', 'InitializeSessionUserId'));
    expect(error.code).toBe('DB_CONNECTION');
    expect(isPassingConnectionLoss(error)).toBe(true);
  });
});
