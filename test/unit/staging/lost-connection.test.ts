/**
 * What an import that lost its connection says it left: by the SQLSTATE
 * the server gave (the error as `pgErrorToBackfill` classifies the
 * driver's) and whether COMMIT had been sent.
 */
import { describe, expect, it } from 'vitest';
import { pgErrorToBackfill } from '../../../src/_internals/pg.js';
import { lostConnection } from '../../../src/staging/pg-staging-session.js';

/** A driver error with the server's SQLSTATE, as pg gives it. */
const fromServer = (code: string, message: string) => pgErrorToBackfill(Object.assign(new Error(message), { code }));

describe('lostConnection', () => {
  it.for([
    ['53300', false, /no connection slot to spare \(too many connections\), so nothing was committed.*once fewer connections are open/],
    ['57P01', false, /lost before the import committed, so nothing was committed/],
    ['3D000', false, /refused the connection for good/],
    ['28P01', false, /refused the connection for good/],
    ['57P01', true, /while COMMIT was in flight, so the import may or may not have committed/],
    ['53300', true, /while COMMIT was in flight/],
  ] as const)('SQLSTATE %s, COMMIT sent %s: says what was committed', ([code, commitSent, said]) => {
    const error = lostConnection(fromServer(code, 'the server said no'), commitSent);
    expect(error.code).toBe('DB_CONNECTION');
    expect(error.dbCode).toBe(code);
    expect(error.message).toMatch(/^PostgreSQL: the server said no\. /);
    expect(error.message).toMatch(said);
  });

  it('passes other errors through untouched', () => {
    const error = fromServer('23505', 'duplicate key');
    expect(lostConnection(error, false)).toBe(error);
  });
});
