import { constants, type Stats } from 'node:fs';
import { open } from 'node:fs/promises';
import { StringDecoder } from 'node:string_decoder';
import { err, ok, type Result } from 'neverthrow';
import { BackfillError, toBackfillError } from '../errors.js';
import { parsePythonJson } from './python-json.js';
import type { IndexBackfillWarning } from './types.js';

// str.splitlines() boundaries (after universal-newline reading, \r\n is one break).
const LINE_BREAKS = /\r\n|[\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029]/;
// str.isspace(): what `line.strip()` removes.
const PY_BLANK = /^[\t\n\v\f\r \x1c-\x1f\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*$/;

/** How {@link readIndexedEpisodeIds} reads. */
export interface IndexReadOptions {
  /** Longest accepted line, in UTF-8 bytes of its text (without the line break). */
  readonly maxLineBytes: number;
  /** Bytes per read. */
  readonly readBytes?: number;
  readonly warn: (warning: IndexBackfillWarning) => void;
}

/** UTF-8 length of `text`, measured only when it could exceed `limit` (a UTF-16 unit is at most 3 bytes). */
const overLimit = (text: string, limit: number): boolean => text.length * 3 > limit && Buffer.byteLength(text, 'utf8') > limit;

/**
 * Reads the episode ids already in the index, streaming, the way the
 * runbook's tool does: lines split as `str.splitlines()` splits them, blank
 * lines ignored, lines that are not JSON objects skipped (with a warning
 * naming the line), and only string `episode_id`s counted. A missing index
 * is an empty one. Invalid UTF-8 is read with replacement characters rather
 * than failing.
 *
 * A line longer than `maxLineBytes` stops the read with `LINE_TOO_LONG`
 * rather than being skipped: it may hold an episode id, and skipping it
 * could append that episode a second time. A line that spans reads is kept
 * in pieces and joined once, so time stays linear in its length.
 */
export async function readIndexedEpisodeIds(path: string, options: IndexReadOptions): Promise<Result<Set<string>, BackfillError>> {
  const { maxLineBytes, warn } = options;
  const ids = new Set<string>();
  let lineNo = 0;
  const take = (line: string): void => {
    lineNo += 1;
    if (overLimit(line, maxLineBytes)) throw tooLong(path, lineNo, maxLineBytes);
    if (PY_BLANK.test(line)) return;
    const parsed = parsePythonJson(line);
    if (parsed.isErr()) {
      warn({
        code: 'JSON_MALFORMED',
        path,
        line: lineNo,
        message: `${path} line ${lineNo}: not valid JSON (${parsed.error.message}); kept as is and skipped.`,
      });
      return;
    }
    const row = parsed.value;
    if (row === null || typeof row !== 'object' || Array.isArray(row)) {
      warn({
        code: 'RECORD_NOT_OBJECT',
        path,
        line: lineNo,
        message: `${path} line ${lineNo}: valid JSON but not an object; kept as is and skipped.`,
      });
      return;
    }
    const id = (row as Record<string, unknown>)['episode_id'];
    if (typeof id === 'string') ids.add(id);
  };

  // The unfinished line, in pieces, and its UTF-8 length so far.
  let pieces: string[] = [];
  let pendingBytes = 0;
  // A trailing \r is held back: it may be the first half of \r\n.
  let heldCr = '';
  const split = (decoded: string, final: boolean): void => {
    let text = heldCr + decoded;
    heldCr = !final && text.endsWith('\r') ? '\r' : '';
    if (heldCr) text = text.slice(0, -1);
    const lines = text.split(LINE_BREAKS);
    const last = lines.pop()!;
    if (lines.length > 0) {
      pieces.push(lines[0]!);
      lines[0] = pieces.join('');
      pieces = [];
      pendingBytes = 0;
      for (const line of lines) take(line);
    }
    if (last !== '') {
      pendingBytes += Buffer.byteLength(last, 'utf8');
      if (pendingBytes > maxLineBytes) throw tooLong(path, lineNo + 1, maxLineBytes);
      pieces.push(last);
    }
  };
  const decoder = new StringDecoder('utf8');
  try {
    // O_NONBLOCK: opening a FIFO waits for a writer, in a thread no signal gets the process out of.
    const handle = await open(path, constants.O_RDONLY | constants.O_NONBLOCK);
    const stats = await handle.stat().catch(async (e: unknown) => {
      await handle.close();
      throw e;
    });
    if (!stats.isFile()) {
      await handle.close();
      return err(notAFile(path, stats));
    }
    for await (const chunk of handle.createReadStream({ highWaterMark: options.readBytes ?? 1024 * 1024 }) as AsyncIterable<Buffer>)
      split(decoder.write(chunk), false);
    split(decoder.end(), true);
    if (pieces.length > 0) take(pieces.join(''));
  } catch (e) {
    if (e instanceof BackfillError) return err(e);
    if ((e as { code?: string }).code === 'ENOENT') return ok(ids);
    return err(toBackfillError(e, 'IO_ERROR', { path }));
  }
  return ok(ids);
}

/** `IO_ERROR` for an index path that names no regular file: nothing is read from it, or appended to it. */
function notAFile(path: string, stats: Stats): BackfillError {
  const kind = stats.isFIFO()
    ? 'a FIFO (named pipe)'
    : stats.isDirectory()
      ? 'a directory'
      : stats.isSocket()
        ? 'a socket'
        : stats.isCharacterDevice() || stats.isBlockDevice()
          ? 'a device'
          : 'no regular file';
  return new BackfillError(
    'IO_ERROR',
    `${path} is not a regular file but ${kind}; nothing was read or appended. Give index (--index) the index.jsonl file itself (a missing one is created).`,
    { context: { path } },
  );
}

function tooLong(path: string, line: number, limit: number): BackfillError {
  return new BackfillError(
    'LINE_TOO_LONG',
    `${path} line ${line}: longer than ${limit} bytes, the longest index line read (index rows are a few hundred bytes, so this line is most likely damaged). Nothing was appended. Repair or remove the line (it may hold an episode id), or raise maxIndexLineBytes (--max-index-line-bytes) to read it.`,
    { context: { path, line, limit } },
  );
}
