/**
 * What a failed import pass leads to: PostgreSQL names a duplicate only by
 * id and a refused row only by its COPY row, so a second read names the
 * lines; with `onInvalid: 'reject'` a duplicate's later lines are set aside
 * for another pass.
 *
 * @module
 */
import { BackfillError } from '../errors.js';
import type { MemberSpec, RunContext } from './import-context.js';
import { lineOfRow, linesOfId, type SkipSet, type SkippedLine } from './line-check.js';

/** What a failed pass leads to: another pass with more duplicate lines set aside, or the import's error. */
export type AfterFailure = { readonly retry: true } | { readonly retry: false; readonly error: BackfillError };

/**
 * Names the lines behind a failure PostgreSQL reported by id (a duplicate)
 * or by COPY row; with `onInvalid: 'reject'`, a duplicate's later lines are
 * set aside for another pass while retries remain.
 */
export async function afterFailure(run: RunContext, error: BackfillError, skip: SkipSet, attempt: number): Promise<AfterFailure> {
  const id = error.code === 'DUPLICATE_ID' ? error.context.id : undefined;
  const dupSpec = typeof id === 'string' ? run.specs.find((s) => s.table === error.context.table) : undefined;
  if (typeof id === 'string' && dupSpec !== undefined) {
    const key = duplicateKey(run, error, id);
    const lines = key === undefined ? [] : await linesOfId(run, dupSpec.member, key, skip);
    const canReject = run.onInvalid === 'reject' && lines.length > 1;
    if (canReject && key !== undefined && attempt <= run.maxDuplicateRetries) {
      const memberSkip = skip.get(dupSpec.member) ?? new Map<number, SkippedLine>();
      const kept = lines[0]!;
      for (const line of lines.slice(1))
        memberSkip.set(line, { id, key, kept, reason: `${dupSpec.member} line ${line}: id ${JSON.stringify(id)} duplicates line ${kept}` });
      skip.set(dupSpec.member, memberSkip);
      run.logger?.warn('duplicate id rejected; importing again', { member: dupSpec.member, id, lines });
      return { retry: true };
    }
    return { retry: false, error: duplicateError(error, dupSpec, lines, canReject) };
  }
  return { retry: false, error: await withCopyLine(run, error, skip) };
}

/**
 * The duplicate's id as the target compares ids: the error's `idKey` from a
 * target that defines `idKey`, else its id text. A target
 * that compares otherwise but did not say which key (undefined) leaves the
 * lines unlocated rather than matched by text.
 */
function duplicateKey(run: RunContext, error: BackfillError, id: string): string | undefined {
  const key = error.context.idKey;
  if (typeof key === 'string') return key;
  return run.target.idKey === undefined ? id : undefined;
}

function duplicateError(error: BackfillError, spec: MemberSpec, lines: readonly number[], retriesExhausted: boolean): BackfillError {
  const id = String(error.context.id);
  const where = lines.length >= 2 ? `lines ${lines[0]} and ${lines[1]}` : 'two lines (not located on a second read)';
  const extra = retriesExhausted ? ' (maxDuplicateRetries reached)' : '';
  return new BackfillError(
    'DUPLICATE_ID',
    `${spec.member}: id ${JSON.stringify(id)} appears on ${where}${extra}; remove one of them. Nothing was committed.`,
    {
      cause: error,
      context: {
        ...error.context,
        member: spec.member,
        table: spec.table,
        id,
        lines: lines.slice(0, 2),
        ...(lines[1] === undefined ? {} : { line: lines[1] }),
      },
      ...(error.dbCode === undefined ? {} : { dbCode: error.dbCode }),
    },
  );
}

/**
 * A row PostgreSQL refused during COPY (`COPY t, line N`), named by its
 * member's line. A unique violation on anything but `id` (a unique index
 * of the user's on a field of `raw`) is such a refusal, not a duplicate id:
 * `DB_ERROR` naming the line and the index, not `DUPLICATE_ID`.
 */
async function withCopyLine(run: RunContext, error: BackfillError, skip: SkipSet): Promise<BackfillError> {
  const copyRow = typeof error.context.where === 'string' ? /^COPY \S+, line (\d+)/.exec(error.context.where) : null;
  const spec = run.specs.find((s) => s.table === error.context.table);
  const duplicateId = error.code === 'DUPLICATE_ID' && error.context.id !== undefined;
  if (duplicateId || copyRow === null || spec === undefined || error.context.line !== undefined) return error;
  const line = await lineOfRow(run, spec.member, Number(copyRow[1]), skip);
  if (line === undefined) return error;
  const code = error.code === 'DUPLICATE_ID' ? 'DB_ERROR' : error.code;
  return new BackfillError(code, `${spec.member} line ${line}: ${error.message}`, {
    cause: error,
    context: { ...error.context, member: spec.member, line },
    ...(error.dbCode === undefined ? {} : { dbCode: error.dbCode }),
  });
}
