/**
 * What the importer checks on each line before the target sees it, and the
 * second reads that name the lines behind a failure PostgreSQL reported
 * only by id or by COPY row.
 *
 * @module
 */
import { BackfillError, toBackfillError, type BackfillErrorCode } from '../errors.js';
import { readDataset } from '../dataset/read-dataset.js';
import { ArchiveMember, type UnreadableLine } from '../dataset/dataset-member.js';
import type { DatasetLine, DatasetMember, ReadDatasetOptions } from '../dataset/types.js';
import { parseRecordLine } from '../_internals/ndjson.js';
import { findJsonbProblem } from './jsonb-check.js';
import { extractRecordId } from './record-id.js';
import type { StagingRow } from './staging-target.js';

/** A line's id, or why it cannot be loaded. */
export type LineVerdict = { readonly id: string } | { readonly code: BackfillErrorCode; readonly error: BackfillError };

/** A line an earlier pass found repeating the id of the member's line `kept`. */
export interface SkippedLine {
  readonly id: string;
  /** The id as the target compares it (its `idKey`): what both lines must still hold. */
  readonly key: string;
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
export function duplicateAnchors(skipped: ReadonlyMap<number, SkippedLine> | undefined): Map<number, SkippedLine> {
  const anchors = new Map<number, SkippedLine>();
  for (const [line, s] of skipped ?? []) anchors.set(line, s).set(s.kept, s);
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
  /** How the target compares ids ({@link StagingTarget.idKey}; their text when it defines none). */
  readonly idKey: (row: StagingRow) => string | PromiseLike<string>;
  /** The first read's options (limits, signal): a line that read accepted must not stop the second. */
  readonly reader: ReadDatasetOptions;
}

/**
 * A member's lines in batches, with each line the reader cannot decode or
 * hold (not UTF-8, longer than `maxLineBytes`) handed over in its place as
 * an {@link UnreadableLine}, so rejecting can set it aside like any bad line.
 */
export function checkedLineBatches(member: DatasetMember): AsyncIterable<(DatasetLine | UnreadableLine)[]> {
  // readDataset's members are all ArchiveMembers; the fallback reads any other as lineBatches() does, throwing at such a line.
  return member instanceof ArchiveMember ? member.checkedLineBatches() : member.lineBatches();
}

/**
 * Skips a member no table is configured for: its lines are never checked,
 * so one over `maxLineBytes` does not stop the import either.
 */
export function skipMember(member: DatasetMember): void {
  if (member instanceof ArchiveMember) member.skipLines();
}

/** The verdict on a line as the reader handed it over: an unreadable line is refused with the reader's error. */
export function checkEntry(
  entry: DatasetLine | UnreadableLine,
  member: string,
  idField: string | undefined,
  maxIdBytes: number | undefined,
): LineVerdict {
  if ('error' in entry) return { code: entry.error.code, error: entry.error };
  return checkLine(entry.raw, member, entry.line, idField, maxIdBytes);
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

/** Reads one member again, handing each line's verdict (and the line) to `visit` until it returns true. */
async function rescan(
  run: RescanContext,
  member: string,
  skip: SkipSet,
  visit: (line: number, verdict: LineVerdict, raw: string) => boolean | Promise<boolean>,
): Promise<void> {
  const skipped = skip.get(member);
  try {
    // No member digests: the first read checked them, and this one only locates lines.
    const ds = readDataset(run.path, { ...run.reader, memberDigests: false });
    for await (const m of ds) {
      if (m.name !== member) {
        skipMember(m);
        continue;
      }
      for await (const batch of checkedLineBatches(m)) {
        for (const entry of batch) {
          if (skipped?.has(entry.line) === true) continue;
          const raw = 'error' in entry ? entry.text : entry.raw;
          if (await visit(entry.line, checkEntry(entry, member, run.idField, run.maxIdBytes), raw)) return;
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
 * violation, a second cheap read of that one member finds the lines: those
 * whose id the target compares equal to the duplicate's (`key`, from its
 * `idKey`), not merely those whose id reads the same (MongoDB stores `1`
 * and `"1"` as two documents).
 */
export async function linesOfId(run: RescanContext, member: string, key: string, skip: SkipSet): Promise<number[]> {
  const lines: number[] = [];
  await rescan(run, member, skip, async (line, verdict, raw) => {
    if ('id' in verdict && (await run.idKey({ id: verdict.id, raw, line })) === key) lines.push(line);
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
