import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { cli, jsonOf } from './cli-harness.js';

const slowStart = pathToFileURL(new URL('../../support/slow-cli-start.mjs', import.meta.url).pathname).href;

describe('a signal while the CLI loads its modules', () => {
  it.each([['SIGTERM'], ['SIGINT']] as const)(
    '%s: exit 130 with ABORTED and its --json document, saying nothing was done',
    async (signal) => {
      let pid: number | undefined;
      let sent = false;
      const r = await cli(['checksums', 'write', '--help', '--json'], {
        nodeOptions: ['--import', slowStart],
        onSpawn: (p) => (pid = p),
        onStderr: (chunk) => {
          if (!sent && chunk.includes('slow-cli-start: loading')) {
            sent = true;
            process.kill(pid!, signal);
          }
        },
        killAfterMs: 60_000,
      });
      expect(sent, r.stderr).toBe(true);
      expect({ code: r.code, signal: r.signal }, r.stderr).toEqual({ code: 130, signal: null });
      const doc = jsonOf(r);
      expect(doc.ok).toBe(false);
      expect(doc.exitCode).toBe(130);
      expect(doc.error?.code).toBe('ABORTED');
      expect(doc.error?.message).toBe(`${signal} received while backfill-kit was starting; nothing was done.`);
      expect(r.stderr).toContain('ABORTED');
    },
    90_000,
  );
});
