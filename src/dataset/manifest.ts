import { isUtf8 } from 'node:buffer';
import { err, ok, Result } from 'neverthrow';
import { BackfillError } from '../errors.js';
import { caseVariantName, duplicateName } from '../_internals/json-duplicates.js';
import { ExtractedPaths, checkMemberName } from './member-name.js';
import type { DatasetManifest, ManifestMember } from './types.js';

const SHA256_HEX = /^[0-9a-f]{64}$/;

function invalid(message: string): BackfillError {
  return new BackfillError('MANIFEST_INVALID', `manifest.json: ${message}`, { context: { member: 'manifest.json' } });
}

/**
 * A key of `object` that Go's encoding/json takes for one of `fields` though
 * spelled otherwise (`SHA256`, `Members`), as a refusal naming `where`.
 */
function goCaseVariant(object: object, fields: readonly string[], where: string): BackfillError | undefined {
  const variant = caseVariantName(object, fields);
  if (variant === undefined) return undefined;
  return invalid(
    `${where} names ${JSON.stringify(variant.key)}, which Go's JSON reader takes for ${JSON.stringify(variant.field)} (it matches names in any case): a reader in Go and this one would check different values, so spell it ${JSON.stringify(variant.field)} once.`,
  );
}

function isCount(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

/** A number written as Python's json reads an int and Go's encoding/json an integer field (`-0` is 0 to both). */
const INTEGER_LITERAL = /^-?(0|[1-9][0-9]*)$/;

/**
 * Parses `text`, recording the numbers not written as integers (`1e0`,
 * `1.0`, `0.99999999999999999999`) by the object and key that hold them:
 * `JSON.parse` rounds them to integers, where Python's json reads a float
 * (or a Decimal) and Go's refuses them for an integer field. `-0` becomes 0.
 */
function parseNoting(text: string): { value: unknown; notIntegers: WeakMap<object, Map<string, string>> } {
  const notIntegers = new WeakMap<object, Map<string, string>>();
  const value: unknown = JSON.parse(text, function (this: object, key: string, parsed: unknown, context?: { source?: string }) {
    if (typeof parsed !== 'number') return parsed;
    const source = context?.source;
    if (source !== undefined && !INTEGER_LITERAL.test(source)) {
      const keys = notIntegers.get(this) ?? new Map<string, string>();
      keys.set(key, source);
      notIntegers.set(this, keys);
    }
    return parsed === 0 ? 0 : parsed;
  });
  return { value, notIntegers };
}

/** Why `object[key]`, a number written as no integer, is refused (naming `where`), or undefined. */
function writtenAsNoInteger(
  notIntegers: WeakMap<object, Map<string, string>>,
  object: object,
  key: string,
  where: string,
): BackfillError | undefined {
  const source = notIntegers.get(object)?.get(key);
  if (source === undefined) return undefined;
  return invalid(
    `${where} must be written as an integer, not ${source}: this reader would round it to ${String((object as Record<string, unknown>)[key])}, Python's json reads no integer there and Go's refuses it.`,
  );
}

/**
 * Validates a schema-1 manifest. `records` is required per member; `bytes`
 * and `sha256` are optional. `records`, `bytes` and `schemaVersion` must be
 * written as integers: `1.0`, `1e0` or `0.99999999999999999999` (which
 * `JSON.parse` rounds to 1, Python's json reads as no integer, and Go's
 * refuses) are `MANIFEST_INVALID`. Unknown keys are kept, but a key Go's
 * encoding/json reads as one of those fields though spelled in another
 * case (`SHA256`, `Members`, `ſha256`) is `MANIFEST_INVALID`: a reader in
 * Go would check its value, this one the other. Member names are
 * normalised as the archive's member names are (`./a.ndjson` and
 * `x//a.ndjson` name the members `a.ndjson` and `x/a.ndjson` that `tar -x`
 * makes), so each entry matches the member tar extracts for it; a name the
 * reader refuses for a member (absolute, `..`, backslash, ending in `/`) or
 * two names of one member are `MANIFEST_INVALID`.
 *
 * @example
 * ```ts
 * const manifest = parseManifest('{"schemaVersion":1,"members":[{"name":"linksets.ndjson","records":340}]}');
 * if (manifest.isErr()) console.error(manifest.error.message); // MANIFEST_INVALID names the field
 * ```
 */
export function parseManifest(text: string): Result<DatasetManifest, BackfillError> {
  let value: unknown;
  let notIntegers: WeakMap<object, Map<string, string>>;
  try {
    ({ value, notIntegers } = parseNoting(text));
  } catch (error) {
    return err(invalid(`not valid JSON (${(error as Error).message}).`));
  }
  // JSON.parse keeps the last of two equal names, other readers the first: the counts checked here would not be the ones they read.
  const twice = duplicateName(text);
  if (twice !== undefined) {
    return err(invalid(`names ${JSON.stringify(twice)} twice in one object; JSON readers disagree on which counts: keep one.`));
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return err(invalid('must be a JSON object.'));
  const m = value as Record<string, unknown>;
  const topVariant = goCaseVariant(m, ['schemaVersion', 'members'], 'the manifest');
  if (topVariant !== undefined) return err(topVariant);
  const version = writtenAsNoInteger(notIntegers, m, 'schemaVersion', 'schemaVersion');
  if (version !== undefined) return err(version);
  if (m.schemaVersion !== 1) return err(invalid(`schemaVersion must be 1, found ${JSON.stringify(m.schemaVersion)}.`));
  if (!Array.isArray(m.members)) return err(invalid('`members` must be an array.'));
  const paths = new ExtractedPaths();
  const members: ManifestMember[] = [];
  for (const [i, entry] of m.members.entries()) {
    if (entry === null || typeof entry !== 'object' || Array.isArray(entry)) return err(invalid(`members[${i}] must be an object.`));
    const e = entry as Record<string, unknown>;
    const entryVariant = goCaseVariant(e, ['name', 'records', 'bytes', 'sha256'], `members[${i}]`);
    if (entryVariant !== undefined) return err(entryVariant);
    if (typeof e.name !== 'string' || e.name.length === 0) return err(invalid(`members[${i}].name must be a non-empty string.`));
    const name = memberName(e.name, i);
    if (name.isErr()) return err(name.error);
    const clash = paths.add(name.value, e.name, 'file');
    if (clash !== undefined) {
      return err(invalid(`members[${i}]: ${clash}; the archive cannot hold both, so list each member once, by one name.`));
    }
    for (const key of ['records', 'bytes']) {
      const rounded = writtenAsNoInteger(notIntegers, e, key, `members[${i}] (${e.name}): ${key}`);
      if (rounded !== undefined) return err(rounded);
    }
    if (!isCount(e.records)) return err(invalid(`members[${i}] (${e.name}): records is required and must be a non-negative integer.`));
    if (e.bytes !== undefined && !isCount(e.bytes)) return err(invalid(`members[${i}] (${e.name}): bytes must be a non-negative integer.`));
    if (e.sha256 !== undefined && (typeof e.sha256 !== 'string' || !SHA256_HEX.test(e.sha256.toLowerCase()))) {
      return err(invalid(`members[${i}] (${e.name}): sha256 must be 64 hex digits.`));
    }
    members.push({ ...e, name: name.value } as ManifestMember);
  }
  return ok({ ...m, members } as unknown as DatasetManifest);
}

/**
 * Validates a schema-1 manifest given as the bytes of `manifest.json`: bytes
 * that are not UTF-8 are `MANIFEST_INVALID` (JSON is UTF-8; decoded, they
 * would become U+FFFD, and a name holding one would match a member that
 * other JSON readers, which refuse the file, never name), then as
 * {@link parseManifest}.
 */
export function parseManifestBytes(bytes: Buffer): Result<DatasetManifest, BackfillError> {
  if (!isUtf8(bytes))
    return err(invalid('is not UTF-8; JSON readers that decode it strictly refuse it, others read other text: re-encode it as UTF-8.'));
  return parseManifest(bytes.toString('utf8'));
}

/** A manifest name as the archive's reader names the member `tar -x` makes of it (`./a.ndjson` is `a.ndjson`), or why it can name none. */
function memberName(raw: string, i: number): Result<string, BackfillError> {
  const why = (error: unknown): string => (error instanceof Error ? error.message : String(error));
  return Result.fromThrowable(checkMemberName, (error) => invalid(`members[${i}].name: ${why(error)}`))(raw);
}

/**
 * Serialises a manifest deterministically (two-space indent, trailing newline).
 *
 * @example
 * ```ts
 * writeFileSync('manifest.json', serializeManifest({ schemaVersion: 1, members: [{ name: 'a.ndjson', records: 2 }] }));
 * ```
 */
export function serializeManifest(manifest: DatasetManifest): string {
  return `${JSON.stringify(manifest, null, 2)}\n`;
}

/** Looks up a member's manifest entry by name. */
export function manifestEntry(manifest: DatasetManifest, name: string): ManifestMember | undefined {
  return manifest.members.find((m) => m.name === name);
}
