import { describe, expect, it } from 'vitest';
import { parse as parseConnectionString } from 'pg-connection-string';
import { parsePgDsn, pgDsnToUrl } from '../../../src/_internals/pg-dsn.js';

describe('parsePgDsn', () => {
  it('reads the Npgsql keyword form the runbooks use', () => {
    expect(parsePgDsn('Host=db.internal;Database=scanner;Username=ops;Password=s3cret;Port=5433')._unsafeUnwrap()).toEqual({
      host: 'db.internal',
      port: 5433,
      database: 'scanner',
      user: 'ops',
      password: 's3cret',
    });
  });

  it('accepts synonyms, any key case, spaces, quotes and ignores unknown keys', () => {
    const c = parsePgDsn(" server = h ; Initial Catalog=d; User ID=u; PWD='a;b''c'; SSL Mode=VerifyFull; Pooling=true; Timeout=15;")._unsafeUnwrap();
    expect(c).toEqual({ host: 'h', database: 'd', user: 'u', password: "a;b'c", sslmode: 'verify-full' });
  });

  it("reads libpq's space-separated keyword form", () => {
    expect(parsePgDsn("host=db port=5433 dbname=scanner user=ops password='a b\\'c' sslmode=require")._unsafeUnwrap()).toEqual({
      host: 'db',
      port: 5433,
      database: 'scanner',
      user: 'ops',
      password: "a b'c",
      sslmode: 'require',
    });
  });

  it('reads URLs', () => {
    expect(parsePgDsn('postgresql://u:p%40ss@h:6543/db?sslmode=require')._unsafeUnwrap()).toEqual({ host: 'h', port: 6543, database: 'db', user: 'u', password: 'p@ss', sslmode: 'require' });
  });

  it('rejects bad input with INVALID_ARGUMENT and never echoes the password', () => {
    for (const dsn of ['', 'Database=x;Password=topsecret', 'Host=h;Port=abc;Password=topsecret', "Host=h;Password='topsecret", 'Host=h;SSL Mode=sometimes', 'justtext']) {
      const r = parsePgDsn(dsn);
      expect(r.isErr(), dsn).toBe(true);
      expect(r._unsafeUnwrapErr().code).toBe('INVALID_ARGUMENT');
      expect(r._unsafeUnwrapErr().message).not.toContain('topsecret');
    }
  });
});

describe('pgDsnToUrl', () => {
  // pg's own parser is the oracle: the URL must mean what the keyword form said.
  it('produces a URL pg-connection-string reads back to the same settings', () => {
    const url = pgDsnToUrl('Host=db;Database=my db;Username=o p@s;Password=p:w/d?#%;Port=5433;SSL Mode=Require')._unsafeUnwrap();
    const back = parseConnectionString(url);
    expect(back.host).toBe('db');
    expect(back.port).toBe('5433');
    expect(back.database).toBe('my db');
    expect(back.user).toBe('o p@s');
    expect(back.password).toBe('p:w/d?#%');
    expect(url).toContain('sslmode=require');
  });

  it('keeps a unix-socket host', () => {
    const back = parseConnectionString(pgDsnToUrl('Host=/var/run/postgresql;Database=d;Username=u')._unsafeUnwrap());
    expect(back.host).toBe('/var/run/postgresql');
    expect(back.database).toBe('d');
  });

  it('passes URLs through untouched', () => {
    const url = 'postgres://u@h:1/d?application_name=x';
    expect(pgDsnToUrl(url)._unsafeUnwrap()).toBe(url);
  });
});
