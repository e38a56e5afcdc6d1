import { describe, expectTypeOf, it } from 'vitest';
import { readDataset, type DatasetByteLine, type DatasetLine, type DatasetMember, type LineOptions } from '../../src/dataset/index.js';

// The overloads of lines() and lineBatches(): the option picks the line type
// at compile time, so byte lines never reach code that expects strings.

declare const member: DatasetMember;
declare const chosenAtRunTime: LineOptions;

describe('DatasetMember line overloads', () => {
  it('lines() yields string lines; { encoding: "buffer" } yields byte lines', () => {
    expectTypeOf(member.lines()).toEqualTypeOf<AsyncIterable<DatasetLine>>();
    expectTypeOf(member.lines({ encoding: 'buffer' })).toEqualTypeOf<AsyncIterable<DatasetByteLine>>();
    expectTypeOf<DatasetLine['raw']>().toEqualTypeOf<string>();
    expectTypeOf<DatasetByteLine['raw']>().toEqualTypeOf<Buffer>();
  });

  it('lineBatches() yields arrays of the same line types', () => {
    expectTypeOf(member.lineBatches()).toEqualTypeOf<AsyncIterable<DatasetLine[]>>();
    expectTypeOf(member.lineBatches({ encoding: 'buffer' })).toEqualTypeOf<AsyncIterable<DatasetByteLine[]>>();
  });

  it('an encoding chosen at run time gives the union, which must be narrowed before use', () => {
    expectTypeOf(member.lines(chosenAtRunTime)).toEqualTypeOf<AsyncIterable<DatasetLine | DatasetByteLine>>();
    expectTypeOf(member.lineBatches(chosenAtRunTime)).toEqualTypeOf<AsyncIterable<DatasetLine[] | DatasetByteLine[]>>();
  });

  it('refuses an encoding other than utf8 or buffer', () => {
    // @ts-expect-error 'hex' is not a line encoding
    member.lines({ encoding: 'hex' });
    // @ts-expect-error 'latin1' is not a line encoding
    member.lineBatches({ encoding: 'latin1' });
  });

  it('members from readDataset have these overloads', () => {
    expectTypeOf(readDataset('x.tar.zst')).toExtend<AsyncIterable<DatasetMember>>();
  });
});
