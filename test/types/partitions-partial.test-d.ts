import { describe, expectTypeOf, it } from 'vitest';
import type { BackfillError } from '../../src/errors.js';
import type { EnsureReport, MaintainPartial, PartitionManager, PartitionSlot, RetentionReport } from '../../src/partitions/index.js';

// What a failed long call had finished is typed on the error itself, so the
// CLI and callers read it without a cast.

declare const manager: PartitionManager;
type ErrorOf<R> = R extends PromiseLike<infer Done> ? (Done extends { error: infer E } ? E : never) : never;

describe('PartitionManager error types', () => {
  it('ensure, retention and maintain name their partial result', () => {
    expectTypeOf<ErrorOf<ReturnType<typeof manager.ensure>>>().toEqualTypeOf<BackfillError<EnsureReport>>();
    expectTypeOf<ErrorOf<ReturnType<typeof manager.retention>>>().toEqualTypeOf<BackfillError<RetentionReport>>();
    expectTypeOf<ErrorOf<ReturnType<typeof manager.maintain>>>().toEqualTypeOf<BackfillError<MaintainPartial>>();
    expectTypeOf<BackfillError<EnsureReport>['partial']>().toEqualTypeOf<EnsureReport | undefined>();
  });

  it('slotFor returns a Result, not a bare slot', () => {
    expectTypeOf(manager.slotFor(new Date()).isOk()).toEqualTypeOf<boolean>();
    expectTypeOf(manager.slotFor(new Date())).not.toEqualTypeOf<PartitionSlot>();
  });
});
