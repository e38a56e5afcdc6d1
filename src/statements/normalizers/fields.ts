/**
 * Small field readers shared by the normalizers (internal, not exported from
 * the package).
 */
import { BackfillError } from '../../errors.js';

/** A plain JSON object. */
export type JsonObject = Readonly<Record<string, unknown>>;

/** True for a non-null, non-array object. */
export function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The value when it is a non-empty string (after trimming), else `undefined`. */
export function text(value: unknown): string | undefined {
  if (typeof value !== 'string') return undefined;
  const trimmed = value.trim();
  return trimmed.length > 0 ? trimmed : undefined;
}

/** The value as an array, `[]` when absent; `undefined` when present but not an array. */
export function optionalArray(value: unknown): readonly unknown[] | undefined {
  if (value === undefined || value === null) return [];
  return Array.isArray(value) ? value : undefined;
}

/** A `DOCUMENT_INVALID` error that names the document and the field. */
export function invalidDocument(format: string, digest: string, where: string, problem: string): BackfillError {
  return new BackfillError('DOCUMENT_INVALID', `${format} document ${digest}: ${where} ${problem}`, {
    context: { digest, field: where, format },
  });
}

/** Normalizes a timestamp to ISO-8601 UTC, or `undefined` when it does not parse. */
export function isoTimestamp(value: unknown): string | undefined {
  const raw = text(value);
  if (raw === undefined) return undefined;
  const ms = Date.parse(raw);
  return Number.isNaN(ms) ? undefined : new Date(ms).toISOString();
}

/** How deep nested lists (CSAF branches, CycloneDX components) may go; only a parsed object that loops reaches it. */
export const MAX_NESTING = 100_000;

/**
 * Visits each object of the list `roots` and, depth first in document
 * order, the objects of each one's list `children`, without recursion: how
 * deep a document may nest may not depend on the stack of the thread that
 * normalizes it. False, having stopped, when lists nest deeper than
 * {@link MAX_NESTING}.
 */
export function walkNested(roots: unknown, children: string, visit: (node: JsonObject) => void): boolean {
  // The arrays being walked and the next index in each (no iterator objects: this runs for every node).
  const lists: (readonly unknown[])[] = [];
  const next: number[] = [];
  const enter = (list: unknown): boolean => {
    const items = optionalArray(list);
    if (items === undefined || items.length === 0) return true;
    if (lists.length === MAX_NESTING) return false;
    lists.push(items);
    next.push(0);
    return true;
  };
  enter(roots);
  while (lists.length > 0) {
    const top = lists.length - 1;
    const items = lists[top] as readonly unknown[];
    const at = next[top] as number;
    if (at === items.length) {
      lists.pop();
      next.pop();
      continue;
    }
    next[top] = at + 1;
    const node = items[at];
    if (!isObject(node)) continue;
    visit(node);
    if (!enter(node[children])) return false;
  }
  return true;
}
