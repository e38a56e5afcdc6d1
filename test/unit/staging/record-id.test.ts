import { describe, expect, it } from 'vitest';
import { extractRecordId } from '../../../src/staging/record-id.js';

describe('extractRecordId', () => {
  it('reads string, number and {"$oid"} ids', () => {
    expect(extractRecordId({ _id: 'ls-1' })._unsafeUnwrap()).toBe('ls-1');
    expect(extractRecordId({ _id: 42 })._unsafeUnwrap()).toBe('42');
    expect(extractRecordId({ _id: -1.5 })._unsafeUnwrap()).toBe('-1.5');
    expect(extractRecordId({ _id: { $oid: '65a1f0c2e4b0a1b2c3d4e5f6' } })._unsafeUnwrap()).toBe('65a1f0c2e4b0a1b2c3d4e5f6');
  });

  it('uses a configured idField', () => {
    expect(extractRecordId({ _id: 'no', key: 'yes' }, { idField: 'key' })._unsafeUnwrap()).toBe('yes');
    const missing = extractRecordId({ _id: 'x' }, { idField: 'key', member: 'm.ndjson', line: 3 });
    expect(missing._unsafeUnwrapErr().message).toContain('field `key` is missing');
  });

  it('refuses missing, empty, null and odd ids with RECORD_INVALID naming member and line', () => {
    const cases: [Record<string, unknown>, string][] = [
      [{}, 'is missing'],
      [{ _id: '' }, 'is empty'],
      [{ _id: null }, 'is null'],
      [{ _id: true }, 'must be a string'],
      [{ _id: ['a'] }, 'must be a string'],
      [{ _id: { $oid: '' } }, 'empty $oid'],
      [{ _id: { $oid: 'a', extra: 1 } }, 'must be a string'],
      [{ _id: { $oid: 7 } }, 'must be a string'],
      [{ _id: 2 ** 60 }, 'beyond 2^53'],
    ];
    for (const [value, fragment] of cases) {
      const e = extractRecordId(value, { member: 'linksets.ndjson', line: 41 })._unsafeUnwrapErr();
      expect(e.code).toBe('RECORD_INVALID');
      expect(e.message).toContain('linksets.ndjson line 41');
      expect(e.message).toContain(fragment);
      expect(e.context).toMatchObject({ member: 'linksets.ndjson', line: 41 });
    }
  });

  it('does not read ids from the prototype chain', () => {
    expect(extractRecordId(Object.create({ _id: 'inherited' }) as Record<string, unknown>).isErr()).toBe(true);
  });
});
