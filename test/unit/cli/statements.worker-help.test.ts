/**
 * `statements worker --help` says every exit status of `--until-done`: an
 * operator's script that reads it must know that a worker of a rolling
 * deploy leaves the runs another backfill-kit version planned to that
 * version's workers and ends with exit 2 while their jobs are pending.
 */
import { describe, expect, it } from 'vitest';
import { statementsCommands } from '../../../src/cli/statements.js';

describe('statements worker --until-done, as its help says it', () => {
  it('names exit 2 for jobs of runs another kit version planned, besides 0 and 4', () => {
    const worker = statementsCommands.find((c) => c.name === 'worker');
    const described = worker?.flags['until-done']?.description ?? '';
    expect(described).toMatch(/\b0\b.*\b4 \(RANGE_FAILED\)/);
    expect(described).toMatch(/another backfill-kit version planned.*exit 2 \(INVALID_ARGUMENT/);
  });
});
