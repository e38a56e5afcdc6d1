import { describe, expect, it } from 'vitest';
import { applyOutcomes, failuresOf, stateOf, type Outcome } from '../../../src/statements/outcomes.js';
import type { BackfillFailure } from '../../../src/statements/ports.js';

const key = (n: number) => ({ digest: `sha256:${n}`, cursor: { retrievedAt: '2025-10-01T00:00:00.000000Z', digest: `sha256:${n}` } });
const failure = (n: number): BackfillFailure => ({ digest: `sha256:${n}`, code: 'DOCUMENT_INVALID', message: `bad ${n}` });
const failed = (n: number): Outcome => ({ kind: 'failed', doc: key(n), failure: failure(n) });
const skipped = (n: number): Outcome => ({ kind: 'skipped', doc: key(n) });

describe('the run state’s failure log', () => {
  it('is shared by the states that extend it: a page copies none of the failures before it', () => {
    const first = applyOutcomes(stateOf(null), [failed(1), skipped(2), failed(3)]);
    const clean = applyOutcomes(first, [skipped(4), skipped(5)]);
    // A page without failures keeps the very same log.
    expect(clean.failed).toBe(first.failed);
    const next = applyOutcomes(clean, [failed(6)]);
    // A page with failures links its own to the log before, which it leaves as it was.
    expect(next.failed?.before).toBe(first.failed);
    expect(failuresOf(first.failed)).toEqual([failure(1), failure(3)]);
    expect(failuresOf(next.failed)).toEqual([failure(1), failure(3), failure(6)]);
    expect(next.counters).toMatchObject({ evaluated: 6, failures: 3, skipped: 3 });
  });

  it('lists every failure in order after thousands of pages, resumed from a checkpoint’s list', () => {
    const saved = { ...stateOf(null), runId: 'r', options: { retrievedSince: null, force: false, maxDocuments: null }, completed: false };
    let state = stateOf({ ...saved, failed: [failure(0)] });
    for (let page = 1; page <= 5000; page += 1) state = applyOutcomes(state, page % 2 === 0 ? [failed(page)] : [skipped(page)]);
    const listed = failuresOf(state.failed);
    expect(listed).toHaveLength(2501);
    expect(listed.map((f) => f.digest)).toEqual([0, ...Array.from({ length: 2500 }, (_, i) => 2 * (i + 1))].map((n) => `sha256:${n}`));
  });

  it('is empty for a fresh run', () => {
    expect(failuresOf(stateOf(null).failed)).toEqual([]);
  });
});
