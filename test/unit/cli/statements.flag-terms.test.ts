/**
 * `statements backfill` errors the library words with its options
 * (`stopOnError:`, "with the same runId") are said with the CLI's flags.
 */
import { describe, expect, it } from 'vitest';
import { withFlagWords } from '../../../src/cli/statements.js';
import { BackfillError } from '../../../src/errors.js';

describe('statements errors in flag terms', () => {
  it.for([
    ['DOCUMENT_INVALID', 'stopOnError: OpenVEX document sha256:ab: bad status', '--stop-on-error: OpenVEX document sha256:ab: bad status'],
    [
      'ABORTED',
      'run r1 was aborted; every committed batch is kept, rerun with the same runId to resume.',
      'run r1 was aborted; every committed batch is kept, rerun with the same --run-id to resume.',
    ],
  ] as const)('%s: %s', ([code, library, cli]) => {
    const partial = { evaluated: 3 };
    const error = new BackfillError(code, library, { context: { runId: 'r1' }, partial });
    const said = withFlagWords(error);
    expect(said.message).toBe(cli);
    expect(said).toMatchObject({ code, context: { runId: 'r1' }, partial });
    expect(said.cause).toBe(error);
  });

  it('leaves any other error as it is', () => {
    const error = new BackfillError('DB_ERROR', 'connection lost');
    expect(withFlagWords(error)).toBe(error);
  });
});
