import { setImmediate as turn } from 'node:timers/promises';
import { describe, expect, it, vi } from 'vitest';
import { loggerOf } from '../../../src/_internals/logger.js';
import { progressOf } from '../../../src/_internals/progress.js';
import { throwingLogger } from '../../support/throwing-logger.js';
import { warningsLogger } from '../../support/throwing-progress.js';
import { collectUnobserved } from '../../support/unobserved.js';

const unobserved = collectUnobserved();

describe('progressOf', () => {
  it('is a no-op when no callback is given', () => {
    const warnings: string[] = [];
    expect(() => progressOf<number>(undefined, warningsLogger(warnings), 'x')(1)).not.toThrow();
    expect(warnings).toEqual([]);
  });

  it('passes every report on, drops each throw, and warns once naming the call', () => {
    const warnings: string[] = [];
    const seen: number[] = [];
    const report = progressOf<number>(
      (n) => {
        seen.push(n);
        if (n !== 2) throw new Error(`no ${n}`);
      },
      warningsLogger(warnings),
      'a test call',
    );
    for (const n of [1, 2, 3]) expect(() => report(n)).not.toThrow();
    expect(seen).toEqual([1, 2, 3]);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/^a test call: onProgress threw/);
  });

  it('drops a rejected promise and a thenable whose then throws, leaving nothing unhandled', async () => {
    const warnings: string[] = [];
    const rejecting = progressOf<number>(async () => Promise.reject(new Error('down')), warningsLogger(warnings), 'async');
    rejecting(1);
    rejecting(2);
    const badThenable = progressOf<number>(
      (() => ({
        // biome-ignore lint/suspicious/noThenProperty: a thenable is what this case is about
        then() {
          throw new Error('then threw');
        },
      })) as unknown as (n: number) => void,
      warningsLogger(warnings),
      'thenable',
    );
    expect(() => badThenable(1)).not.toThrow();
    // The thenable warns at once; the rejection once its handler runs.
    await vi.waitFor(() => expect(warnings.map((w) => w.split(':')[0])).toEqual(['thenable', 'async']), { timeout: 20_000 });
    // A rejection left unhandled is reported after the turn it happened in.
    await turn();
    expect(unobserved.rejections).toEqual([]);
  });

  it('drops a throw, whatever was thrown, with a logger that throws too', () => {
    const report = progressOf<number>(
      () => {
        throw Object.create(null);
      },
      loggerOf(throwingLogger()),
      'x',
    );
    expect(() => report(1)).not.toThrow();
  });
});
