/**
 * A table flag the database could not take (`vex.raw documents`, a
 * look-alike letter, three parts) used to be checked only when the command
 * got to that table: a single-process backfill connected, created its
 * statements tables, printed "The run stopped; committed so far" and only
 * then refused the raw table's name, and against an unreachable server it
 * failed with DB_CONNECTION instead. Every statements command now checks
 * each table flag first: INVALID_IDENTIFIER (exit 2) naming the flag,
 * before it connects.
 */
import { describe, expect, it } from 'vitest';
import { cli } from '../cli/cli-harness.js';

/** Nothing listens here: a command that tried to connect would fail with DB_CONNECTION (exit 6). */
const nowhere = 'postgres://postgres@127.0.0.1:1/nowhere';

describe('statements table flags', () => {
  it('are refused before connecting, naming the flag, by every command', async () => {
    const cases: [string[], RegExp][] = [
      [['backfill', '--raw-table', 'vex.raw documents'], /--raw-table: table name "raw documents" is not a plain identifier/],
      [['backfill', '--workers', '2', '--run-id', 'x', '--failures-table', 'vex.ｆailures'], /--failures-table: table name "ｆailures"/],
      [['plan', '--run-id', 'x', '--raw-table', 'vex.raw_documents '], /--raw-table: table name "raw_documents "/],
      [['worker', '--statements-table', 'a.b.c'], /--statements-table: table name "a.b.c" must be "table" or "schema.table"/],
      [['report', '--run-id', 'x', '--ranges-table', '"vex".ranges'], /--ranges-table: schema name "\\"vex\\""/],
    ];
    const runs = await Promise.all(cases.map(([args]) => cli(['statements', ...args, '--pg', nowhere])));
    for (const [i, [args, message]] of cases.entries()) {
      const run = runs[i]!;
      expect(run.code, `${args.join(' ')}: ${run.stderr}`).toBe(2);
      expect(run.stderr).toMatch(/INVALID_IDENTIFIER/);
      expect(run.stderr).toMatch(message);
      expect(run.stdout).not.toMatch(/committed so far/);
    }
  }, 120_000);
});
