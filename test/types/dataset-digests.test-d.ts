import { describe, expectTypeOf, it } from 'vitest';
import { readDataset, type Dataset, type DatasetStats, type MemberStats, type ReadDatasetOptions } from '../../src/dataset/index.js';

// `memberDigests` decides at compile time whether a member's sha256 can be
// null, so code that compares member digests never reads a dataset without them.

declare const chosenAtRunTime: boolean;
declare const options: ReadDatasetOptions;

describe('readDataset member digests', () => {
  it('by default, and with memberDigests: true, every member sha256 is a string', () => {
    expectTypeOf(readDataset('x.tar.zst')).toEqualTypeOf<Dataset<string>>();
    expectTypeOf(readDataset('x.tar.zst', { maxLineBytes: 1 })).toEqualTypeOf<Dataset<string>>();
    expectTypeOf(readDataset('x.tar.zst', { memberDigests: true })).toEqualTypeOf<Dataset<string>>();
    expectTypeOf<DatasetStats<string>['members'][number]['sha256']>().toEqualTypeOf<string>();
  });

  it('with memberDigests: false, every member sha256 is null', () => {
    expectTypeOf(readDataset('x.tar.zst', { memberDigests: false })).toEqualTypeOf<Dataset<null>>();
    expectTypeOf<DatasetStats<null>['members'][number]['sha256']>().toEqualTypeOf<null>();
  });

  it('chosen at run time, or unannotated, it may be either', () => {
    expectTypeOf(readDataset('x.tar.zst', { memberDigests: chosenAtRunTime })).toEqualTypeOf<Dataset>();
    expectTypeOf(readDataset('x.tar.zst', options)).toEqualTypeOf<Dataset>();
    expectTypeOf<MemberStats['sha256']>().toEqualTypeOf<string | null>();
  });

  it('a dataset read without member digests cannot stand in where they are needed', () => {
    const needsDigests = (_: Dataset<string>): void => undefined;
    // @ts-expect-error member sha256 may be null
    needsDigests(readDataset('x.tar.zst', { memberDigests: false }));
    // @ts-expect-error member sha256 may be null
    needsDigests(readDataset('x.tar.zst', options));
    needsDigests(readDataset('x.tar.zst'));
  });

  it('refuses a memberDigests that is not a boolean', () => {
    // @ts-expect-error a string is not a boolean
    readDataset('x.tar.zst', { memberDigests: 'false' });
  });
});
