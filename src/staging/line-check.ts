/**
 * What the importer checks on each line before the target sees it, and the
 * second reads that name the lines behind a failure PostgreSQL reported
 * only by id or by COPY row.
 *
 * @module
 */
import { BackfillError, toBackfillError, type BackfillErrorCode } from '../errors.js';
import { readDataset } from '../dataset/read-dataset.js';
import type { ReadDatasetOptions } from '../dataset/types.js';
import { parseRecordLine } from '../_internals/ndjson.js';
import { findJsonbProblem } from './jsonb-check.js';
import { extractRecordId } from './record-id.js';

/** A line's id, or why it cannot be loaded. */
export type LineVerdict = { readonly id: string } | { readonly code: BackfillErrorCode; readonly error: BackfillError };

/** A line an earlier pass found repeating the id of the member's line `kept`. */
export interface SkippedLine {
  readonly id: string;
  readonly kept: number;
  readonly reason: string;
}

/** Per-member lines to reject as duplicates, by line number. */
export type SkipSet = Map<string, Map<number, SkippedLine>>;

/**
 * The lines a pass after a duplicate must find unchanged: each skipped line
 * and the line it repeats, with the id both held. A file replaced between
 * passes would otherwise have some other record rejected in its place.
 */
export function duplicateAnchors(skipped: ReadonlyMap<number, SkippedLine> | undefined): Map<number, string> {
  const anchors = new Map<number, string>();
  for (const [line, s] of skipped ?? []) anchors.set(line, s.id).set(s.kept, s.id);
  return anchors;
}

/** The error of a line that no longer holds the id an earlier pass read there. */
export function fileChangedError(member: string, line: number, id: string): BackfillError {
  return new BackfillError(
    'CHECKSUM_MISMATCH',
    `${member} line ${line} no longer holds id ${JSON.stringify(id)}: the file changed between the import's passes over it. Nothing was committed; import it again once nothing is writing it.`,
    { context: { member, line, id } },
  );
}

/** What a second read needs to know about the import. */
export interface RescanContext {
  readonly path: string;
  readonly idField: string | undefined;
  readonly maxIdBytes: number | undefined;
  /** The first read's options (limits, signal): a line that read accepted must not stop the second. */
  readonly reader: ReadDatasetOptions;
}

/** Everything the library checks on one line before PostgreSQL sees it. */
export function checkLine(
  raw: string,
  member: string,
  line: number,
  idField: string | undefined,
  maxIdBytes: number | undefined,
): LineVerdict {
  let value: Record<string, unknown>;
  try {
    value = parseRecordLine(raw, member, line);
  } catch (error) {
    const e = toBackfillError(error, 'JSON_MALFORMED', { member, line });
    return { code: e.code, error: e };
  }
  const jsonb = findJsonbProblem(raw);
  if (jsonb !== undefined) {
    const error = new BackfillError(
      'JSONB_UNSUPPORTED',
      `${member} line ${line}, column ${jsonb.index + 1}: ${jsonb.reason}; remove it, or import with onInvalid: 'reject'.`,
      {
        context: { member, line, column: jsonb.index + 1 },
      },
    );
    return { code: 'JSONB_UNSUPPORTED', error };
  }
  const id = extractRecordId(value, { member, line, ...(idField === undefined ? {} : { idField }) });
  if (id.isErr()) return { code: id.error.code, error: id.error };
  // Only ids that might be too long pay for the byte count (UTF-8 takes at most 3 bytes per UTF-16 unit).
  if (maxIdBytes !== undefined && id.value.length * 3 > maxIdBytes) {
    const bytes = Buffer.byteLength(id.value);
    if (bytes > maxIdBytes) {
      const error = new BackfillError(
        'ID_TOO_LONG',
        `${member} line ${line}: the id is ${bytes} bytes (it starts ${JSON.stringify(id.value.slice(0, 40))}), longer than the ${maxIdBytes} bytes the staging table's primary key can index; shorten it, or import with onInvalid: 'reject'.`,
        { context: { member, line, bytes, limit: maxIdBytes } },
      );
      return { code: 'ID_TOO_LONG', error };
    }
  }
  return { id: id.value };
}

/** Reads one member again, handing each line's verdict to `visit` until it returns true. */
async function rescan(
  run: RescanContext,
  member: string,
  skip: SkipSet,
  visit: (line: number, verdict: LineVerdict) => boolean,
): Promise<void> {
  const skipped = skip.get(member);
  try {
    // No member digests: the first read checked them, and this one only locates lines.
    const ds = readDataset(run.path, { ...run.reader, memberDigests: false });
    for await (const m of ds) {
      if (m.name !== member) continue;
      for await (const batch of m.lineBatches()) {
        for (const { line, raw } of batch) {
          if (skipped?.has(line) === true) continue;
          if (visit(line, checkLine(raw, member, line, run.idField, run.maxIdBytes))) return;
        }
      }
      return;
    }
  } catch {
    // The first failure is what the caller needs to see; the lines stay unknown.
  }
}

/**
 * PostgreSQL names the duplicate id but not the lines, and remembering
 * every id's line would grow with the dataset. So on the (rare) unique
 * violation, a second cheap read of that one member finds the lines.
 */
export async function linesOfId(run: RescanContext, member: string, id: string, skip: SkipSet): Promise<number[]> {
  const lines: number[] = [];
  await rescan(run, member, skip, (line, verdict) => {
    if ('id' in verdict && verdict.id === id) lines.push(line);
    return false;
  });
  return lines;
}

/**
 * A row PostgreSQL refused is named by its COPY row number, which counts
 * only the rows sent; a second read maps it to the member's line.
 */
export async function lineOfRow(run: RescanContext, member: string, row: number, skip: SkipSet): Promise<number | undefined> {
  let sent = 0;
  let found: number | undefined;
  await rescan(run, member, skip, (line, verdict) => {
    if ('id' in verdict) sent += 1;
    if (sent === row) found = line;
    return found !== undefined;
  });
  return found;
}
