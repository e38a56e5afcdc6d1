import { err, ok, type Result } from 'neverthrow';
import { BackfillError } from '../errors.js';

const STANDARD = /^[A-Za-z0-9+/]*={0,2}$/;
const URL_SAFE = /^[A-Za-z0-9_-]*={0,2}$/;

/**
 * Strict base64: standard or URL-safe alphabet (not mixed), padding
 * optional but correct when present. Node's own decoder silently skips
 * junk characters, which would let a mangled signature or payload through.
 *
 * @internal
 */
export function decodeBase64(text: string, what: string): Result<Buffer, BackfillError> {
  const standard = STANDARD.test(text);
  const urlSafe = URL_SAFE.test(text);
  const padded = text.endsWith('=');
  const bad = (why: string): Result<Buffer, BackfillError> =>
    err(new BackfillError('BASE64_INVALID', `${what} is not valid base64 (${why}); encode it with standard or URL-safe base64.`));
  if (!standard && !urlSafe) return bad('unexpected characters');
  if (padded ? text.length % 4 !== 0 : text.length % 4 === 1) return bad('wrong length or padding');
  return ok(Buffer.from(text, urlSafe && !standard ? 'base64url' : 'base64'));
}
