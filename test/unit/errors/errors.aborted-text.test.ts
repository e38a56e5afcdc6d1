import { describe, expect, it } from 'vitest';
import { EXIT_CODES } from '../../../src/cli/exit-codes.js';
import { ERROR_CODES } from '../../../src/errors.js';

describe('ABORTED and exit 130', () => {
  // The statement backfill's ABORTED message says every committed batch is kept: the fix and the exit table must not say otherwise.
  it('say that a statement backfill keeps its committed batches and resumes, not that nothing was committed', () => {
    for (const text of [ERROR_CODES.ABORTED.fix, EXIT_CODES.ABORTED.meaning]) {
      expect(text).not.toMatch(/^(Run it again; )?nothing (partial )?was committed/i);
      expect(text).toMatch(/statement backfill keeps its committed batches and resumes/);
    }
  });
});
