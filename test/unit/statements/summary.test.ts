import { describe, expect, it } from 'vitest';
import { buildSummary, canonicalJson, addOutcome, addOutcomeSums, OUTCOME_SUM_ZERO, summaryText } from '../../../src/statements/summary.js';

describe('summaryText', () => {
  it('is exactly the statements runbook sentence', () => {
    expect(summaryText({ evaluated: 450, backfilled: 180, claimsWritten: 320, skipped: 270, failures: 0 })).toBe(
      'Backfill completed: evaluated 450, backfilled 180, claims written 320, skipped 270, failures 0.',
    );
  });
});

describe('report hashing', () => {
  const report = {
    schemaVersion: 2,
    options: { retrievedSince: null, force: false, maxDocuments: null },
    counters: { evaluated: 2, backfilled: 1, claimsWritten: 3, skipped: 0, failures: 1 },
    lastCursor: { retrievedAt: '2025-10-01T00:00:00.000000Z', digest: 'sha256:b' },
    outcomeSha256: addOutcome(addOutcome(OUTCOME_SUM_ZERO, 'sha256:a', 'backfilled 3'), 'sha256:b', 'failed DOCUMENT_INVALID'),
    failed: [{ digest: 'sha256:b', code: 'DOCUMENT_INVALID' as const, message: 'bad' }],
  };

  it('sorts keys at every level, so key order never changes the hash', () => {
    expect(canonicalJson({ b: 1, a: { d: [{ z: 1, y: 2 }], c: null } })).toBe('{"a":{"c":null,"d":[{"y":2,"z":1}]},"b":1}');
    const shuffled = {
      failed: report.failed,
      outcomeSha256: report.outcomeSha256,
      lastCursor: { digest: 'sha256:b', retrievedAt: '2025-10-01T00:00:00.000000Z' },
      counters: { failures: 1, skipped: 0, claimsWritten: 3, backfilled: 1, evaluated: 2 },
      options: { maxDocuments: null, force: false, retrievedSince: null },
      schemaVersion: 2,
    };
    expect(buildSummary({ runId: 'a', resumed: false, report: shuffled, state: 'completed' }).reportSha256).toBe(
      buildSummary({ runId: 'b', resumed: true, report, state: 'completed' }).reportSha256,
    );
  });

  it('matches sha256sum of the canonical JSON', async () => {
    const { execFileSync } = await import('node:child_process');
    const s = buildSummary({ runId: 'r', resumed: false, report, state: 'completed' });
    const oracle = execFileSync('sha256sum', { input: canonicalJson(report), encoding: 'utf8' }).split(' ')[0];
    expect(s.reportSha256).toBe(oracle);
    expect(s.text).toBe('Backfill completed: evaluated 2, backfilled 1, claims written 3, skipped 0, failures 1.');
  });

  it("opens 'Backfill completed:' only for a completed run, and hashes the same report alike whatever the run's state", () => {
    const stopped = buildSummary({ runId: 'r', resumed: false, report, state: 'stopped' });
    const running = buildSummary({ runId: 'r', resumed: false, report, state: 'running' });
    expect(stopped.text).toBe('Backfill stopped: evaluated 2, backfilled 1, claims written 3, skipped 0, failures 1.');
    expect(running.text).toBe('Backfill in progress: evaluated 2, backfilled 1, claims written 3, skipped 0, failures 1.');
    expect(stopped.reportSha256).toBe(buildSummary({ runId: 'r', resumed: false, report, state: 'completed' }).reportSha256);
  });

  it('changes when any outcome changes', () => {
    const other = {
      ...report,
      outcomeSha256: addOutcome(addOutcome(OUTCOME_SUM_ZERO, 'sha256:a', 'backfilled 2'), 'sha256:b', 'failed DOCUMENT_INVALID'),
    };
    expect(buildSummary({ runId: 'r', resumed: false, report: other, state: 'completed' }).reportSha256).not.toBe(
      buildSummary({ runId: 'r', resumed: false, report, state: 'completed' }).reportSha256,
    );
  });
});

describe('outcome sums', () => {
  const outcomes: [string, string][] = [
    ['sha256:a', 'backfilled 3'],
    ['sha256:b', 'failed DOCUMENT_INVALID'],
    ['sha256:c', 'skipped'],
    ['sha256:d', 'backfilled 0'],
  ];
  const sumOf = (list: readonly [string, string][]): string => list.reduce((sum, [d, o]) => addOutcome(sum, d, o), OUTCOME_SUM_ZERO);

  it('is the same in any order, and for any cut into ranges', () => {
    const whole = sumOf(outcomes);
    expect(sumOf([...outcomes].reverse())).toBe(whole);
    for (let cut = 0; cut <= outcomes.length; cut += 1)
      expect(addOutcomeSums(sumOf(outcomes.slice(0, cut)), sumOf(outcomes.slice(cut)))).toBe(whole);
  });

  it('is the sum of the sha256sum leaves mod 2^256 (checked with sha256sum)', async () => {
    const { execFileSync } = await import('node:child_process');
    let total = 0n;
    for (const [d, o] of outcomes)
      total += BigInt(`0x${execFileSync('sha256sum', { input: `${d} ${o}`, encoding: 'utf8' }).split(' ')[0]}`);
    expect(sumOf(outcomes)).toBe((total % (1n << 256n)).toString(16).padStart(64, '0'));
  });

  it('tells a different outcome, and a repeated document, apart', () => {
    const whole = sumOf(outcomes);
    expect(sumOf([...outcomes.slice(1), ['sha256:a', 'backfilled 2']])).not.toBe(whole);
    expect(sumOf([...outcomes, outcomes[0]!])).not.toBe(whole);
  });
});
