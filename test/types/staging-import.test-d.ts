import type { ResultAsync } from 'neverthrow';
import { describe, expectTypeOf, it } from 'vitest';
import type { BackfillError } from '../../src/errors.js';
import { type ImportReport, StagingImporter } from '../../src/staging/index.js';

// A failed import hands back its report in the error's one typed field, so
// callers read `error.partial` without a cast.

declare const importer: StagingImporter;

describe('StagingImporter types', () => {
  it('import() fails with BackfillError<ImportReport>, whose partial is the report or undefined', () => {
    expectTypeOf(importer.import('x.tar.zst')).toEqualTypeOf<ResultAsync<ImportReport, BackfillError<ImportReport>>>();
    expectTypeOf<BackfillError<ImportReport>['partial']>().toEqualTypeOf<ImportReport | undefined>();
  });

  it('is built with new and has no create()', () => {
    expectTypeOf(new StagingImporter({ tables: { a: 't' } })).toEqualTypeOf<StagingImporter>();
    expectTypeOf(StagingImporter).not.toHaveProperty('create');
  });
});
