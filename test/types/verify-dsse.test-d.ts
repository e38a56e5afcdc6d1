import { describe, expectTypeOf, it } from 'vitest';
import type { BackfillError } from '../../src/errors.js';
import type { verifyDsse, verifyInTotoSubject, DsseVerdicts } from '../../src/verify/index.js';

// The per-signature verdicts of a failed check are typed on the error itself,
// so a caller reads `error.partial.signatures` without a cast.

type ErrorOf<R> = R extends PromiseLike<infer Done> ? ErrorOf<Done> : R extends { error: infer E } ? E : never;

describe('verify error types', () => {
  it('verifyDsse and verifyInTotoSubject name the verdicts as their partial result', () => {
    expectTypeOf<ErrorOf<ReturnType<typeof verifyDsse>>>().toEqualTypeOf<BackfillError<DsseVerdicts>>();
    expectTypeOf<ErrorOf<ReturnType<typeof verifyInTotoSubject>>>().toEqualTypeOf<BackfillError<DsseVerdicts>>();
    expectTypeOf<BackfillError<DsseVerdicts>['partial']>().toEqualTypeOf<DsseVerdicts | undefined>();
  });
});
