/**
 * The driver connects to one host. The keyword form's host list
 * (`Host=a,b`) was refused before connecting; the URL form
 * (`postgres://a,b/db`, with ports, or `?host=a,b`) and `PGHOST=a,b` were
 * looked up as one host name, and only the fix line of the failed
 * connection (DB_CONNECTION, exit 6) said it was a list. Every form is now
 * refused before connecting, with the keyword form's message (exit 2).
 */
import { describe, expect, it } from 'vitest';
import { cli } from './cli-harness.js';

const REFUSED = 'Host lists several hosts; name one (multi-host failover is not supported).';

describe('a host list, in any form', () => {
  it.for([
    ['the keyword form', ['--pg', 'Host=h1.invalid,h2.invalid;Database=d;Username=u'], {}, '--pg'],
    ['a URL', ['--pg', 'postgres://u@h1.invalid,h2.invalid/d'], {}, '--pg'],
    ['a URL with ports', ['--pg', 'postgres://u:p@h1.invalid:5432,h2.invalid:5433/d'], {}, '--pg'],
    ['a URL in PGURI', [], { PGURI: 'postgres://u@h1.invalid,h2.invalid/d' }, 'PGURI'],
    ['a URL with ?host=', ['--pg', 'postgres://u@h.invalid/d?host=h1.invalid,h2.invalid'], {}, '--pg'],
    ['PGHOST', [], { PGHOST: 'h1.invalid,h2.invalid', PGUSER: 'u', PGDATABASE: 'd' }, 'PGHOST'],
    ['PGHOST under a URL without a host', ['--pg', 'postgres:///d'], { PGHOST: 'h1.invalid,h2.invalid' }, 'PGHOST'],
  ] as const)('%s is refused before connecting, exit 2, with the same message', { timeout: 60_000 }, async ([, args, env, from]) => {
    // The CLI's environment is only PATH, HOME and these.
    const r = await cli(['partitions', 'list', '--table', 'scanner.artifact_boms', ...args], { env: { ...env } });
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toContain(`error INVALID_ARGUMENT: ${from}: ${REFUSED}`);
    expect(r.stderr).not.toContain('DB_CONNECTION');
    expect(r.stderr).not.toContain(':p@');
  });

  it('one host, or a socket directory, is not a list', { timeout: 60_000 }, async () => {
    // Nothing listens there: the connection is tried (and fails), so the host was taken as one.
    const r = await cli(['partitions', 'list', '--table', 'scanner.artifact_boms'], {
      env: { PGHOST: '/nonexistent/a,b', PGUSER: 'u', PGCONNECT_TIMEOUT: '2' },
    });
    expect(r.stderr).not.toContain(REFUSED);
    expect(r.code, r.stderr).toBe(6);
  });
});
