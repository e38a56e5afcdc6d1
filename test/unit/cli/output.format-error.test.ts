import { describe, expect, it } from 'vitest';
import { formatError, reworded } from '../../../src/cli/output.js';
import { BackfillError, ERROR_CODES, type BackfillErrorCode } from '../../../src/errors.js';

describe('formatError', () => {
  it.each(Object.keys(ERROR_CODES) as BackfillErrorCode[])('%s: the fix names CLI flags and commands, not library options', (code) => {
    const text = formatError(new BackfillError(code, 'x'), false);
    const fix = /^ {2}fix: {5}(.*)$/m.exec(text)?.[1] ?? '';
    expect(fix).not.toBe('');
    // A library option (`lockTimeoutMs`, `onInvalid: "reject"`) or function (`writeDataset`, `dropLeftovers()`).
    expect(fix).not.toMatch(/`[a-z]+[A-Z][A-Za-z]*(\(\))?(: [^`]*)?`/);
    expect(fix).not.toMatch(/`repoPath`|`idField`/);
  });

  it('names the flag that raises the lock timeout', () => {
    expect(formatError(new BackfillError('LOCK_TIMEOUT', 'x'), false)).toContain('--lock-timeout-ms');
  });

  it('keeps the SQLSTATE line and the detail of an error the CLI rewords into flag terms', () => {
    const error = new BackfillError('DB_ERROR', 'PostgreSQL: bad value for (batchSize)', { dbCode: '22023', detail: 'the detail' });
    const said = reworded(error, (m) => m.replace('(batchSize)', '(--batch-size)'));
    expect(said.message).toBe('PostgreSQL: bad value for (--batch-size)');
    expect(said.dbCode).toBe('22023');
    expect(said.detail).toBe('the detail');
    expect(formatError(said, false)).toContain('  sqlstate/db code: 22023');
  });
});
