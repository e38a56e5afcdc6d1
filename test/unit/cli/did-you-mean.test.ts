import { describe, expect, it } from 'vitest';
import { didYouMean } from '../../../src/cli/command.js';

const groups = ['dataset', 'checksums', 'partitions', 'statements', 'index', 'gate'];

describe('didYouMean', () => {
  it('names the command a typo meant: a dropped, added, changed or swapped letter', () => {
    expect(didYouMean('datset', groups)).toBe(' Did you mean dataset?');
    expect(didYouMean('datasett', groups)).toBe(' Did you mean dataset?');
    expect(didYouMean('dataswt', groups)).toBe(' Did you mean dataset?');
    expect(didYouMean('dtaaset', groups)).toBe(' Did you mean dataset?');
    expect(didYouMean('Partition', groups)).toBe(' Did you mean partitions?');
    expect(didYouMean('improt', ['build', 'verify', 'import', 'export', 'rollback'], 'dataset ')).toBe(' Did you mean dataset import?');
  });

  it('takes the only candidate a prefix starts, and says nothing when nothing is close or the prefix is ambiguous', () => {
    expect(didYouMean('check', groups)).toBe(' Did you mean checksums?');
    expect(didYouMean('frobnicate', groups)).toBe('');
    expect(didYouMean('', groups)).toBe('');
    expect(didYouMean('re', ['retention', 'rollback', 'reindex'])).toBe('');
  });

  it('takes the longest candidate a longer flag starts with, up to a hyphen (a flag name from another tool)', () => {
    const flags = ['pg', 'pg-ssl-mode', 'batch-size', 'json'];
    expect(didYouMean('pg-url', flags, '--')).toBe(' Did you mean --pg?');
    expect(didYouMean('pg-ssl-mode-require', flags, '--')).toBe(' Did you mean --pg-ssl-mode?');
    expect(didYouMean('jsonl', flags, '--')).toBe(' Did you mean --json?');
    expect(didYouMean('batch', ['pg', 'batch-size', 'batch-count'], '--')).toBe('');
  });

  it('prefixes flags', () => {
    expect(didYouMean('batchsize', ['batch-size', 'force', 'json'], '--')).toBe(' Did you mean --batch-size?');
  });
});
