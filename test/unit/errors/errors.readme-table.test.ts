import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { BackfillError, ERROR_CODES, toBackfillError } from '../../../src/errors.js';
import { END, START, errorTable } from '../../../scripts/readme-error-table.js';

describe('README error table', () => {
  it('lists every code exactly as ERROR_CODES says (run `npm run docs:errors` to refresh)', () => {
    const readme = readFileSync('README.md', 'utf8');
    const region = readme.slice(readme.indexOf(START) + START.length, readme.indexOf(END)).trim();
    expect(region).toBe(errorTable());
  });

  it('codes are UPPER_SNAKE and every entry says what to do', () => {
    for (const [code, entry] of Object.entries(ERROR_CODES)) {
      expect(code).toMatch(/^[A-Z][A-Z0-9]*(_[A-Z0-9]+)*$/);
      expect(entry.summary.length).toBeGreaterThan(10);
      expect(entry.fix.length).toBeGreaterThan(5);
    }
  });
});

describe('BackfillError', () => {
  it('keeps row data out of enumerable properties and JSON', () => {
    const e = new BackfillError('JSON_MALFORMED', 'm.ndjson line 3: bad', {
      context: { member: 'm.ndjson', line: 3 },
      detail: '{"secret":1',
      dbCode: '22P02',
    });
    expect(e.detail).toBe('{"secret":1');
    expect(Object.keys(e)).not.toContain('detail');
    expect(JSON.stringify(e)).not.toContain('secret');
    expect(e.toJSON()).toEqual({
      code: 'JSON_MALFORMED',
      message: 'm.ndjson line 3: bad',
      context: { member: 'm.ndjson', line: 3 },
      dbCode: '22P02',
    });
    expect(e.fix).toBe(ERROR_CODES.JSON_MALFORMED.fix);
  });

  it('toBackfillError maps aborts and file-system errors and passes coded errors through', () => {
    const coded = new BackfillError('LOCKED', 'x');
    expect(toBackfillError(coded)).toBe(coded);
    const abort = Object.assign(new Error('stop'), { name: 'AbortError' });
    expect(toBackfillError(abort).code).toBe('ABORTED');
    const enoent = Object.assign(new Error('no such file'), { code: 'ENOENT' });
    expect(toBackfillError(enoent, 'DB_ERROR', { path: '/x' })).toMatchObject({ code: 'IO_ERROR', message: '/x: no such file' });
    expect(toBackfillError('weird', 'DB_ERROR').code).toBe('DB_ERROR');
  });

  it('withPartial attaches what was finished and keeps everything else; undefined means nothing was', () => {
    const cause = new Error('socket closed');
    const e = new BackfillError('DB_CONNECTION', 'lost', { cause, context: { table: 't' }, dbCode: '08006', detail: 'row' });
    const withReport = e.withPartial({ rows: 3 });
    expect(withReport).toMatchObject({ code: 'DB_CONNECTION', message: 'lost', context: { table: 't' }, dbCode: '08006', cause });
    expect(withReport.partial?.rows).toBe(3);
    expect(withReport.detail).toBe('row');
    expect(withReport.stack).toBe(e.stack);
    expect(withReport.toJSON()).toEqual({
      code: 'DB_CONNECTION',
      message: 'lost',
      context: { table: 't' },
      dbCode: '08006',
      partial: { rows: 3 },
    });
    expect(e.partial).toBeUndefined();
    const nothing = withReport.withPartial<{ rows: number }>(undefined);
    expect(nothing.partial).toBeUndefined();
    expect('partial' in nothing.toJSON()).toBe(false);
  });
});
