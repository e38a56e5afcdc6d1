import { describe, expect, it } from 'vitest';
import { parse as parseConnectionString } from 'pg-connection-string';
import { parsePgDsn, pgDsnToUrl, pgPoolConfig } from '../../../src/_internals/pg-dsn.js';

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
    const c = parsePgDsn(
      " server = h ; Initial Catalog=d; User ID=u; PWD='a;b''c'; SSL Mode=VerifyFull; Pooling=true; Timeout=15;",
    )._unsafeUnwrap();
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
    expect(parsePgDsn('postgresql://u:p%40ss@h:6543/db?sslmode=require')._unsafeUnwrap()).toEqual({
      host: 'h',
      port: 6543,
      database: 'db',
      user: 'u',
      password: 'p@ss',
      sslmode: 'require',
    });
  });

  it('rejects bad input with INVALID_ARGUMENT and never echoes the password', () => {
    for (const dsn of [
      '',
      'Database=x;Password=topsecret',
      'Host=h;Port=abc;Password=topsecret',
      "Host=h;Password='topsecret",
      'Host=h;SSL Mode=sometimes',
      'justtext',
    ]) {
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

describe('Host with a port (Npgsql form)', () => {
  it('reads host:port, [v6]:port and a bare IPv6 address', () => {
    expect(parsePgDsn('Host=127.0.0.1:5432;Database=d;Username=u')._unsafeUnwrap()).toEqual({
      host: '127.0.0.1',
      port: 5432,
      database: 'd',
      user: 'u',
    });
    expect(parsePgDsn('Host=[::1]:5433;Database=d')._unsafeUnwrap()).toMatchObject({ host: '::1', port: 5433 });
    expect(parsePgDsn('Host=[::1];Database=d')._unsafeUnwrap()).toEqual({ host: '::1', database: 'd' });
    expect(parsePgDsn('Host=fe80::1;Database=d')._unsafeUnwrap()).toEqual({ host: 'fe80::1', database: 'd' });
    expect(parsePgDsn('Host=/var/run/postgresql;Port=5433')._unsafeUnwrap()).toEqual({ host: '/var/run/postgresql', port: 5433 });
  });

  it('a port in Host wins over Port, in either order', () => {
    expect(parsePgDsn('Host=db:6000;Port=5432')._unsafeUnwrap().port).toBe(6000);
    expect(parsePgDsn('Port=5432;Host=db:6000')._unsafeUnwrap().port).toBe(6000);
  });

  it('turns into a URL pg reads back with the right host and port', () => {
    const url = pgDsnToUrl('Host=127.0.0.1:5432;Database=d;Username=u')._unsafeUnwrap();
    expect(url).toBe('postgres://u@127.0.0.1:5432/d');
    expect(pgPoolConfig(url)._unsafeUnwrap()).toMatchObject({ host: '127.0.0.1', port: 5432, database: 'd', user: 'u' });
    expect(pgPoolConfig(pgDsnToUrl('Host=[::1]:5433;Database=d')._unsafeUnwrap())._unsafeUnwrap()).toMatchObject({
      host: '::1',
      port: 5433,
    });
  });

  it('refuses a Host that would rewrite other parts of the URL (query, path, user), without echoing it', () => {
    for (const dsn of [
      'Host=db.example.com?sslmode=disable&x=;Database=d;SSL Mode=verify-full',
      'Host=127.0.0.1/evil;Database=postgres',
      'Host=db#frag;Database=d',
      'Host=evil@127.0.0.1;Password=hunter2',
      'Host=db name;Database=d',
    ]) {
      const e = parsePgDsn(dsn)._unsafeUnwrapErr();
      expect(e.code, dsn).toBe('INVALID_ARGUMENT');
      expect(e.message).toContain('Host is not a host name');
      expect(e.message).not.toContain('hunter2');
      expect(pgDsnToUrl(dsn).isErr(), dsn).toBe(true);
    }
    for (const host of ['db', 'db-1.internal', 'my_host', '10.0.0.7', '::1', '[::1]:5433', 'fe80::1'])
      expect(parsePgDsn(`Host=${host};Database=d`).isOk(), host).toBe(true);
  });

  // A URL that does not parse is looked at once more for a host list; a comma in the password is none.
  it.for([
    ['postgres://a:5432,b:5433/d', 'Host lists several hosts'],
    ['postgres://u:p@a:5432,b:5433/d', 'Host lists several hosts'],
    ['postgres://u:p,w@h:99999/d', 'does not parse'],
    ['postgres://u,v:p@ss,w@h:0x/d', 'does not parse'],
  ] as const)('a URL that does not parse, %s: %s', ([url, says]) => {
    const error = parsePgDsn(url)._unsafeUnwrapErr();
    expect(error.code).toBe('INVALID_ARGUMENT');
    expect(error.message).toContain(says);
  });

  it('refuses several hosts and a bad port in Host with INVALID_ARGUMENT', () => {
    for (const dsn of ['Host=a,b;Database=d', 'Host=db:0', 'Host=db:99999', 'Host=db:;Database=d', 'Host=[::1]:x']) {
      expect(parsePgDsn(dsn)._unsafeUnwrapErr().code, dsn).toBe('INVALID_ARGUMENT');
    }
  });
});

describe('error messages never quote the DSN', () => {
  // Whatever follows an unquoted ";" or blank may be the rest of a password.
  it.each([
    ['Npgsql, unquoted ; in the password', 'Host=h;Password=hunter2;SECRETTAIL'],
    ['Npgsql, a fragment that looks like a key', 'Host=h;Password=hunter2;SECRETKEY=v;SECRETTAIL'],
    ['Npgsql, unclosed quote after a fragment key', 'Host=h;Password=hunter2;SECRETKEY="v'],
    ['Npgsql, text after a quoted fragment', 'Host=h;Password=hunter2;SECRETKEY="v"SECRETTAIL'],
    ['libpq, unquoted blank in the password', 'host=h password=hunter2 SECRETTAIL'],
    ['port', 'Host=h;Port=SECRETTAIL'],
    ['port in host', 'Host=h:SECRETTAIL'],
    ['ssl mode', 'Host=h;SSL Mode=SECRETTAIL'],
    ['URL', 'postgres://u:hunter2SECRETTAIL@h:99999999/d'],
    ['URL, bad percent-encoding', 'postgres://u:hunter2%zzSECRETTAIL@h/d'],
  ])('%s', (_what, dsn) => {
    const error = parsePgDsn(dsn)._unsafeUnwrapErr();
    expect(error.code).toBe('INVALID_ARGUMENT');
    expect(error.message).not.toMatch(/SECRET|hunter2/);
  });

  it('says where the pair is, by the known keyword before it', () => {
    expect(parsePgDsn('Host=h;Password=hunter2;x')._unsafeUnwrapErr().message).toMatch(/pair 3 \(after Password\) has no "="/);
    expect(parsePgDsn('Host=h;Password=a;SECRET=b;c')._unsafeUnwrapErr().message).toMatch(/pair 4 \(after an unknown keyword\)/);
  });
});

describe('Password without Username', () => {
  it('is kept, and the driver connects as its default user', () => {
    const url = pgDsnToUrl('Host=db;Database=d;Password=p@ss:w')._unsafeUnwrap();
    expect(url).toBe('postgres://:p%40ss%3Aw@db/d');
    const config = pgPoolConfig(url)._unsafeUnwrap();
    expect(config.password).toBe('p@ss:w');
    expect(config.user ?? '').toBe('');
  });
});

describe('database names with URL delimiters', () => {
  const NAMES = ['a/b', 'what?', 'x#y', 'c++', 'semi;colon', 'co:lon', 'all/?#+;:@&=$, %41 %', 'ünï €'];

  it.each(NAMES)('%s arrives as written, from the keyword form and from a percent-encoded URL', (name) => {
    const quoted = `"${name.replaceAll('"', '""')}"`;
    const fromDsn = pgPoolConfig(pgDsnToUrl(`Host=db;Database=${quoted};Username=u`)._unsafeUnwrap())._unsafeUnwrap();
    expect(fromDsn.database).toBe(name);
    expect(pgPoolConfig(`postgres://u@db/${encodeURIComponent(name)}`)._unsafeUnwrap().database).toBe(name);
    // pg's own reading keeps some of it encoded: why pgPoolConfig exists
    if (/[/?#+;:]/.test(name)) expect(parseConnectionString(`postgres://u@db/${encodeURIComponent(name)}`).database).not.toBe(name);
  });

  it('keeps what pg reads from the rest of the URL', () => {
    expect(pgPoolConfig('postgres://u:p@db:6000/d?application_name=x&sslmode=disable')._unsafeUnwrap()).toMatchObject({
      host: 'db',
      port: 6000,
      user: 'u',
      password: 'p',
      database: 'd',
      application_name: 'x',
      ssl: false,
    });
    expect(pgPoolConfig('postgres://u@%2Fvar%2Frun%2Fpostgresql/d')._unsafeUnwrap()).toMatchObject({
      host: '/var/run/postgresql',
      database: 'd',
    });
  });
});

describe('libpq keywords beyond host, port, dbname, user, password and sslmode', () => {
  // Dropped, a TLS keyword left the operator's certificate settings unread without a word.
  it('the keyword forms pass the TLS files, application_name, options and client_encoding on as the URL form takes them', () => {
    const url = pgDsnToUrl(
      "host=db dbname=d sslmode=verify-full sslrootcert=/etc/ssl/ca.pem sslcert='/c d.pem' sslkey=/k.pem application_name='my app' connect_timeout=7 options='-c search_path=a,b' client_encoding=UTF8 fallback_application_name=f",
    )._unsafeUnwrap();
    // (pg-connection-string would read the files: the query is checked as it parses it.)
    const back = Object.fromEntries(new URL(url).searchParams);
    expect(back).toEqual({
      sslmode: 'verify-full',
      sslrootcert: '/etc/ssl/ca.pem',
      sslcert: '/c d.pem',
      sslkey: '/k.pem',
      application_name: 'my app',
      options: '-c search_path=a,b',
      client_encoding: 'UTF8',
      fallback_application_name: 'f',
      connect_timeout: '7',
    });
    expect(url).not.toContain('+');
    const npgsql = pgDsnToUrl('Host=db;Root Certificate=/ca.pem;Application Name=a b;SSL Certificate=/c.pem;Pooling=true')._unsafeUnwrap();
    expect(Object.fromEntries(new URL(npgsql).searchParams)).toEqual({
      sslrootcert: '/ca.pem',
      sslcert: '/c.pem',
      application_name: 'a b',
    });
  });

  it.for([
    ['host=db target_session_attrs=read-write', 'target_session_attrs'],
    ['host=db sslpassword=hunter2', 'sslpassword'],
    ['host=db sslcrl=/crl.pem', 'sslcrl'],
    ['host=db service=prod', 'service'],
    ['Host=db;Target Session Attributes=primary', 'Target Session Attributes'],
    ['postgres://u@db/d?target_session_attrs=read-write', 'target_session_attrs'],
    ['postgres://u@db/d?sslcrl=/crl.pem', 'sslcrl'],
  ])('%s is refused with INVALID_ARGUMENT naming %s', ([dsn, named]) => {
    const e = pgDsnToUrl(dsn!)._unsafeUnwrapErr();
    expect(e.code).toBe('INVALID_ARGUMENT');
    expect(e.message).toContain(named!);
    expect(e.message).not.toContain('hunter2');
  });

  it('an unknown keyword in the libpq form is refused without being named (it may be part of a password)', () => {
    const e = parsePgDsn('host=db password=hunter2 SECRETTAIL=x')._unsafeUnwrapErr();
    expect(e.code).toBe('INVALID_ARGUMENT');
    expect(e.message).toContain('pair 3 has an unknown keyword');
    expect(e.message).not.toMatch(/hunter2|SECRETTAIL/);
  });
});

describe('a URL whose port is no TCP port', () => {
  it.each([
    ['too large', 'postgres://u:pw@db:99999/d'],
    ['not a number', 'postgres://u:pw@db:54x2/d'],
    ['IPv6 host, too large', 'postgres://u:pw@[::1]:70000/d'],
  ])('%s: says to check the port, not the percent-encoding', (_what, url) => {
    const message = parsePgDsn(url)._unsafeUnwrapErr().message;
    expect(message).toMatch(/port is not a TCP port from 1 to 65535/);
    expect(message).not.toMatch(/percent-encoding|pw/);
    expect(pgPoolConfig(url)._unsafeUnwrapErr().message).toMatch(/port is not a TCP port from 1 to 65535/);
  });

  it('a URL that fails for another reason keeps the percent-encoding hint', () => {
    expect(parsePgDsn('postgres://u:pw%zz@db:5432/d')._unsafeUnwrapErr().message).toMatch(/check its percent-encoding/);
  });

  it('quotes nothing when an unencoded / in the password puts its digits where the port would be', () => {
    expect(parsePgDsn('postgres://u:999999/secret@db/d')._unsafeUnwrapErr().message).not.toMatch(/999999|secret/);
  });
});
