import { describe, expect, it } from 'vitest';
import { parseQualifiedName, quoteIdent, validateIdentifier } from '../../../src/_internals/sql-identifier.js';

describe('validateIdentifier', () => {
  it.each(['linksets_raw', 'lnm_raw', '_x', 'a$b', 'A1'])('accepts %s', (name) => {
    expect(validateIdentifier(name).isOk()).toBe(true);
  });

  it.each([
    ['', 'empty'],
    ['a;drop table x', 'semicolon'],
    ['x"; DROP SCHEMA public; --', 'quote injection'],
    ['1abc', 'leading digit'],
    ['a b', 'space'],
    ['a.b', 'dot inside one part'],
    ['é', 'non-ASCII'],
    ['a'.repeat(64), 'longer than 63 bytes'],
  ])('refuses %j (%s) with INVALID_IDENTIFIER', (name) => {
    const r = validateIdentifier(name);
    expect(r.isErr() && r.error.code).toBe('INVALID_IDENTIFIER');
  });
});

describe('quoteIdent', () => {
  it('doubles embedded quotes', () => {
    expect(quoteIdent('a"b')).toBe('"a""b"');
  });
});

describe('parseQualifiedName', () => {
  it('splits schema.table and quotes both parts', () => {
    expect(parseQualifiedName('scanner.artifact_boms')._unsafeUnwrap()).toEqual({
      schema: 'scanner',
      name: 'artifact_boms',
      sql: '"scanner"."artifact_boms"',
    });
  });

  it('uses the default schema for a bare name', () => {
    expect(parseQualifiedName('linksets_raw', 'lnm_raw')._unsafeUnwrap().sql).toBe('"lnm_raw"."linksets_raw"');
  });

  it.each(['a.b.c', 'a.', '.b', 'public.x;y'])('refuses %j', (value) => {
    expect(parseQualifiedName(value).isErr()).toBe(true);
  });
});
