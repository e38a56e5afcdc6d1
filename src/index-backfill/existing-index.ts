import { createReadStream } from 'node:fs';
import { StringDecoder } from 'node:string_decoder';
import { err, ok, type Result } from 'neverthrow';
import { type BackfillError, toBackfillError } from '../errors.js';
import { parsePythonJson } from './python-json.js';
import type { IndexBackfillWarning } from './types.js';

// str.splitlines() boundaries (after universal-newline reading, \r\n is one break).
const LINE_BREAKS = /\r\n|[\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029]/;
// str.isspace(): what `line.strip()` removes.
const PY_BLANK = /^[\t\n\v\f\r \x1c-\x1f\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*$/;

/**
 * Reads the episode ids already in the index, streaming, the way the seed
 * does: lines split as `str.splitlines()` splits them, blank lines ignored,
 * lines that are not JSON objects skipped (with a warning naming the line),
 * and only string `episode_id`s counted. A missing index is an empty one.
 * Invalid UTF-8 is read with replacement characters rather than failing.
 */
export async function readIndexedEpisodeIds(path: string, warn: (warning: IndexBackfillWarning) => void): Promise<Result<Set<string>, BackfillError>> {
  const ids = new Set<string>();
  let lineNo = 0;
  const take = (line: string): void => {
    lineNo += 1;
    if (PY_BLANK.test(line)) return;
    const parsed = parsePythonJson(line);
    if (parsed.isErr()) {
      warn({ code: 'JSON_MALFORMED', path, line: lineNo, message: `${path} line ${lineNo}: not valid JSON (${parsed.error.message}); kept as is and skipped.` });
      return;
    }
    const row = parsed.value;
    if (row === null || typeof row !== 'object' || Array.isArray(row)) {
      warn({ code: 'RECORD_NOT_OBJECT', path, line: lineNo, message: `${path} line ${lineNo}: valid JSON but not an object; kept as is and skipped.` });
      return;
    }
    const id = (row as Record<string, unknown>)['episode_id'];
    if (typeof id === 'string') ids.add(id);
  };
  const decoder = new StringDecoder('utf8');
  let carry = '';
  const split = (text: string, final: boolean): void => {
    // Hold back a trailing \r: it may be the first half of \r\n.
    const hold = !final && text.endsWith('\r') ? '\r' : '';
    const lines = (hold ? text.slice(0, -1) : text).split(LINE_BREAKS);
    carry = lines.pop()! + hold;
    for (const line of lines) take(line);
  };
  try {
    for await (const chunk of createReadStream(path, { highWaterMark: 1024 * 1024 }) as AsyncIterable<Buffer>) split(carry + decoder.write(chunk), false);
  } catch (e) {
    if ((e as { code?: string }).code === 'ENOENT') return ok(ids);
    return err(toBackfillError(e, 'IO_ERROR', { path }));
  }
  split(carry + decoder.end(), true);
  if (carry !== '') take(carry);
  return ok(ids);
}
