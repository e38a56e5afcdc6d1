/**
 * A long flag typed with one dash, as other tools spell them (`-dry-run`,
 * `-run-id x`), was refused as the first letter parseArgs read as a short
 * flag (`unknown flag -d`), a flag the operator never typed, with no
 * suggestion; `--no-dryrun` got no suggestion either. The refusal now
 * names the word as typed, says that long flags take two dashes and
 * suggests the flag (`--no-dry-run` for `--no-dryrun`).
 */
import { describe, expect, it } from 'vitest';
import { cliInProcess } from './cli-harness.js';

describe.concurrent('a long flag typed with one dash, or a mistyped --no- switch', () => {
  it.for([
    {
      args: ['partitions', 'retention', '-dry-run'],
      says: 'unknown flag -dry-run: long flags start with two dashes. Did you mean --dry-run?',
    },
    {
      args: ['partitions', 'retention', '-dry-run=false'],
      says: 'unknown flag -dry-run: long flags start with two dashes. Did you mean --dry-run?',
    },
    {
      args: ['statements', 'backfill', '-run-id', 'x'],
      says: 'unknown flag -run-id: long flags start with two dashes. Did you mean --run-id?',
    },
    {
      args: ['dataset', 'build', 'x.tar.zst', '-linksets', '5'],
      says: 'unknown flag -linksets: long flags start with two dashes. Did you mean --linksets?',
    },
    { args: ['partitions', 'retention', '--no-dryrun'], says: 'unknown flag --no-dryrun. Did you mean --no-dry-run?' },
  ])('$args: exit 2, "$says"', async ({ args, says }) => {
    const r = await cliInProcess(args);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toContain(`error INVALID_ARGUMENT: ${says}`);
  });

  it('a short flag that does not exist is still named alone', async () => {
    const r = await cliInProcess(['partitions', 'retention', '-x']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^error INVALID_ARGUMENT: unknown flag -x \(see: /m);
  });
});
