import { describe, expect, it } from 'vitest';
import { matchPassword, passwordFilePath } from '../../../src/cli/pgpass.js';

describe('matchPassword (a password file line as libpq reads it)', () => {
  const c = { host: 'db', port: 5432, database: 'scanner', user: 'ops' };

  it('takes the first line that matches, `*` matching anything', () => {
    const text = 'other:5432:scanner:ops:no\n*:5432:scanner:ops:yes\n*:*:*:*:later\n';
    expect(matchPassword(text, c)).toBe('yes');
    expect(matchPassword(text, { ...c, port: 6432 })).toBe('later');
  });

  it('reads \\: and \\\\ as : and \\, in the fields and the password', () => {
    expect(matchPassword('db:5432:scanner:o\\:ps:p\\:w\\\\d:x\n', { ...c, user: 'o:ps' })).toBe('p:w\\d:x');
  });

  it('skips comments, blank lines, short lines and a CR at the line end', () => {
    expect(matchPassword('# *:*:*:*:comment\r\n\r\ndb:5432\r\ndb:5432:scanner:ops:pw\r\n', c)).toBe('pw');
  });

  it('matches a socket directory as localhost, and the database as the user when none is named', () => {
    expect(matchPassword('localhost:5432:ops:ops:pw\n', { host: '/var/run/postgresql', port: 5432, user: 'ops' })).toBe('pw');
  });

  it('finds nothing when no line matches', () => {
    expect(matchPassword('db:5432:other:ops:pw\n', c)).toBeUndefined();
  });
});

describe('passwordFilePath', () => {
  it('is PGPASSFILE, else .pgpass in HOME, else in the running user’s home, never the current directory', () => {
    expect(passwordFilePath({ PGPASSFILE: '/etc/pw', HOME: '/h' })).toBe('/etc/pw');
    expect(passwordFilePath({ HOME: '/h' })).toBe('/h/.pgpass');
    expect(passwordFilePath({ HOME: '' })).toMatch(/^\/.*\/\.pgpass$/);
    expect(passwordFilePath({})).toMatch(/^\/.*\/\.pgpass$/);
  });
});
