import type { ResultAsync } from 'neverthrow';
import { describe, expectTypeOf, it } from 'vitest';
import type { BackfillError } from '../../../src/errors.js';
import type { BackfillSummary, StatementBackfiller } from '../../../src/statements/index.js';

// A failed backfill hands back what it committed as the error's typed
// `partial`, so callers read it without a cast.

declare const backfiller: StatementBackfiller;

describe('StatementBackfiller results', () => {
  it('run() and runRange() fail with BackfillError<BackfillSummary>', () => {
    expectTypeOf(backfiller.run()).toEqualTypeOf<ResultAsync<BackfillSummary, BackfillError<BackfillSummary>>>();
    expectTypeOf(backfiller.runRange).returns.toEqualTypeOf<ResultAsync<BackfillSummary, BackfillError<BackfillSummary>>>();
  });

  it('the partial summary is optional: a run can fail before its first batch', () => {
    expectTypeOf<BackfillError<BackfillSummary>['partial']>().toEqualTypeOf<BackfillSummary | undefined>();
  });
});
