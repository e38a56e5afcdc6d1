/**
 * Validation of commit hashes as clients send them.
 *
 * @module
 */
import { err, ok, type Result } from 'neverthrow';
import { BackfillError } from '../errors.js';

const HEX = /^[0-9a-f]+$/i;
/** Longest slice of a bad value echoed back in messages and bodies. */
const ECHO_LIMIT = 100;

/** Why a value is not a usable commit hash. */
export interface CommitProblem {
  readonly code: 'COMMIT_MISSING' | 'COMMIT_MALFORMED';
  readonly message: string;
  /** The offending value, cut to 100 characters, or `null` when nothing was sent. */
  readonly value: string | null;
}

/** Cuts a bad value down so an echo of it stays small. */
export function echoValue(value: string): string {
  return value.length > ECHO_LIMIT ? `${value.slice(0, ECHO_LIMIT)}…` : value;
}

/**
 * Returns the lower-case hash, or the problem with `value`. `what` names the
 * value in messages (for example the header name). Kept allocation-free on
 * the accepted path because the gate calls it on every request.
 *
 * @internal
 */
export function inspectCommit(value: unknown, what: string): string | CommitProblem {
  if (typeof value === 'string') {
    const n = value.length;
    if ((n === 40 || n === 64) && HEX.test(value)) return value.toLowerCase();
    if (n === 0) return missing(what);
    if (!HEX.test(value)) {
      return {
        code: 'COMMIT_MALFORMED',
        message: `${what} must be a commit hash of hex digits only (0-9, a-f); got ${JSON.stringify(echoValue(value))}.`,
        value: echoValue(value),
      };
    }
    const message =
      n < 40
        ? `${what} looks like an abbreviated hash (${n} hex digits); send the full 40-hex (SHA-1) or 64-hex (SHA-256) hash from \`git rev-parse HEAD\`.`
        : `${what} has ${n} hex digits; a commit hash has 40 (SHA-1) or 64 (SHA-256).`;
    return { code: 'COMMIT_MALFORMED', message, value: echoValue(value) };
  }
  if (Array.isArray(value)) {
    if (value.length === 1) return inspectCommit(value[0], what);
    if (value.length === 0) return missing(what);
    return {
      code: 'COMMIT_MALFORMED',
      message: `${what} was sent ${value.length} times; send it exactly once.`,
      value: echoValue(value.map(String).join(', ')),
    };
  }
  if (value === undefined || value === null) return missing(what);
  return { code: 'COMMIT_MALFORMED', message: `${what} must be a string; got ${typeof value}.`, value: null };
}

function missing(what: string): CommitProblem {
  return {
    code: 'COMMIT_MISSING',
    message: `${what} is missing; send the full commit hash of the code that produced the upload (\`git rev-parse HEAD\`).`,
    value: null,
  };
}

/**
 * Checks that `value` is a full commit hash (40-hex SHA-1 or 64-hex SHA-256)
 * and returns it in lower case. Abbreviated hashes are refused.
 *
 * @example
 * ```ts
 * const commit = normalizeCommit(process.env.CODE_COMMIT);
 * if (commit.isErr()) console.error(commit.error.message); // COMMIT_MISSING / COMMIT_MALFORMED
 * ```
 */
export function normalizeCommit(value: unknown): Result<string, BackfillError> {
  const inspected = inspectCommit(value, 'The commit');
  if (typeof inspected === 'string') return ok(inspected);
  return err(new BackfillError(inspected.code, inspected.message, { context: { value: inspected.value } }));
}
