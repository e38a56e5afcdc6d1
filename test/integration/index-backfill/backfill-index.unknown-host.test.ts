/**
 * `--host` naming no host directory under the root, a typo or the wrong
 * case: the run scanned nothing and succeeded (exit 0), so a runbook step
 * went on with the host's rows still missing from the index. (The library,
 * and the example that stands in for the runbook's tool, keep the tool's
 * output: scanned 0.)
 */
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cli } from '../cli/cli-harness.js';
import { smallTree } from './episode-tree.js';

describe('index backfill --host with no directory', () => {
  it.for([
    { host: 'lab-1', hint: 'hosts there: h)' },
    { host: 'H', hint: 'Did you mean h? Host names are case-sensitive.' },
  ])('--host $host exits 2 naming the hosts there, and nothing is written', async ({ host, hint }) => {
    const { root, index } = await smallTree('unknown-host', ['e1']);
    const r = await cli(['index', 'backfill', '--episodes-root', root, '--index', index, '--host', host]);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toMatch(/^error INVALID_ARGUMENT: --host /m);
    expect(r.stderr).toContain(hint);
    expect(existsSync(index)).toBe(false);
  });

  it('a host whose directory is there but empty scans nothing and succeeds', async () => {
    const { root, index } = await smallTree('empty-host', ['e1']);
    mkdirSync(join(root, 'lab-2'));
    const r = await cli(['index', 'backfill', '--episodes-root', root, '--index', index, '--host', 'lab-2']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('scanned: 0');
  });
});
