/**
 * A logger whose sink throws (a closed stream, a full disk): the gate logs
 * from the refresh every waiting request shares, so a throw there must not
 * reach the requests, `ready()` or the constructor.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { renameSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { VersionGate } from '../../../src/version-gate/index.js';
import { createRepo, manualClock, REMEDIATION, removeScratchDirs } from './git-fixture.js';

afterAll(removeScratchDirs);

const broken = (): void => {
  throw new Error('log sink closed');
};
const throwingLogger = { debug: broken, info: broken, warn: broken, error: broken };

describe('VersionGate with a logger that throws', () => {
  it('constructs a disabled gate, and ready() resolves with the git error instead of rejecting', async () => {
    expect(
      () => new VersionGate({ repoPath: '/nonexistent', remediation: REMEDIATION, enabled: false, logger: throwingLogger }),
    ).not.toThrow();
    const repo = createRepo(3);
    await using gate = new VersionGate({ repoPath: `${repo.dir}-missing`, remediation: REMEDIATION, logger: throwingLogger });
    const loaded = await gate.ready().then(
      (r) => (r.isErr() ? r.error.code : 'ok'),
      (e: unknown) => `rejected: ${String(e)}`,
    );
    expect(loaded).toBe('GATE_UNAVAILABLE');
  });

  it('answers every request through the middleware, across a failing and a recovering refresh', async () => {
    const repo = createRepo(3);
    const head = repo.commits()[0]!;
    const away = `${repo.dir}-away`;
    renameSync(repo.dir, away);
    const clock = manualClock();
    await using gate = new VersionGate({
      repoPath: repo.dir,
      remediation: REMEDIATION,
      logger: throwingLogger,
      ttlMs: 1_000,
      now: clock.now,
    });
    const gated = gate.middleware();
    const server = createServer((req, res) => gated(req, res, () => res.writeHead(201).end('stored')));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/upload`;
    const put = async (): Promise<number | string> =>
      fetch(url, { method: 'PUT', body: 'x', headers: { 'x-code-commit': head }, signal: AbortSignal.timeout(10_000) }).then(
        (r) => r.status,
        (e: unknown) => `no answer: ${String(e)}`,
      );
    try {
      // The first load fails (logged at error level: that throws).
      expect(await put()).toBe(503);
      // git works again; the refresh that recovers logs at info level (that throws too).
      renameSync(away, repo.dir);
      clock.advance(1_000);
      expect(await put()).toBe(201);
      expect(gate.status()).toMatchObject({ loaded: true, headCommit: head });
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
