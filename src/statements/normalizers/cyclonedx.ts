/**
 * CycloneDX 1.4–1.6 VEX (a BOM's `vulnerabilities` with `analysis`) to claims.
 *
 * @module
 */
import { err, ok, type Result } from 'neverthrow';
import type { BackfillError } from '../../errors.js';
import { detectVexFormat } from '../detect.js';
import type { ClaimStatus, NormalizeContext, VexClaim, VexNormalizer } from '../ports.js';
import { invalidDocument, isObject, isoTimestamp, MAX_NESTING, optionalArray, text, walkNested, type JsonObject } from './fields.js';

/** CycloneDX `analysis.state` (impactAnalysisState) to the claim status set: a map, so `constructor` or `__proto__` is no state. */
const STATE_TO_STATUS: ReadonlyMap<string, ClaimStatus> = new Map([
  ['resolved', 'fixed'],
  ['resolved_with_pedigree', 'fixed'],
  ['exploitable', 'affected'],
  ['in_triage', 'under_investigation'],
  ['false_positive', 'not_affected'],
  ['not_affected', 'not_affected'],
]);

/**
 * `bom-ref` → purl, else CPE, else the ref itself, for every component at any
 * depth (`metadata.component`, `components`, `services`), the first with a
 * ref winning in document order, however deep the thread's stack;
 * `undefined` when components nest deeper than {@link MAX_NESTING} (a
 * parsed object that loops).
 */
function indexComponents(bom: JsonObject): Map<string, string> | undefined {
  const refs = new Map<string, string>();
  const metadata = isObject(bom['metadata']) ? bom['metadata'] : {};
  const roots = [metadata['component'], ...(optionalArray(bom['components']) ?? []), ...(optionalArray(bom['services']) ?? [])];
  const walked = walkNested(roots, 'components', (component) => {
    const ref = text(component['bom-ref']);
    if (ref !== undefined && !refs.has(ref)) refs.set(ref, text(component['purl']) ?? text(component['cpe']) ?? ref);
  });
  return walked ? refs : undefined;
}

/** This BOM as a BOM-Link names it: its serial number's UUID (lower case: UUIDs compare case-insensitively) and its version (1 when absent). */
interface ThisBom {
  readonly uuid: string | undefined;
  readonly version: number;
}

/**
 * Resolves an `affects[].ref`: a local `bom-ref`, or a BOM-Link
 * (`urn:cdx:<serial>/<version>#<bom-ref>`) into this same BOM, serial and
 * version. A reference into another BOM, or another version of this one,
 * cannot be resolved here and is kept as written.
 */
function resolveRef(ref: string, refs: ReadonlyMap<string, string>, bom: ThisBom): string {
  const local = refs.get(ref);
  if (local !== undefined) return local;
  const link = /^urn:cdx:([^/]+)\/(\d+)#(.+)$/.exec(ref);
  if (link && bom.uuid !== undefined && link[1]?.toLowerCase() === bom.uuid && Number(link[2]) === bom.version) {
    let fragment = link[3] ?? '';
    try {
      fragment = decodeURIComponent(fragment);
    } catch {
      // A malformed escape is kept literally.
    }
    return refs.get(fragment) ?? ref;
  }
  return ref;
}

function normalizeCycloneDx(document: unknown, context: NormalizeContext): Result<readonly VexClaim[], BackfillError> {
  const { digest } = context;
  if (!isObject(document)) return err(invalidDocument('CycloneDX', digest, 'document', 'is not a JSON object'));
  const vulnerabilities = optionalArray(document['vulnerabilities']);
  if (vulnerabilities === undefined) return err(invalidDocument('CycloneDX', digest, 'vulnerabilities', 'must be an array'));
  const refs = indexComponents(document);
  if (refs === undefined) {
    return err(invalidDocument('CycloneDX', digest, 'components', `nest deeper than ${MAX_NESTING} levels`));
  }
  const serial = text(document['serialNumber']);
  const version = document['version'];
  const bom: ThisBom = {
    uuid: serial !== undefined && /^urn:uuid:/i.test(serial) ? serial.slice('urn:uuid:'.length).toLowerCase() : undefined,
    version: version === undefined ? 1 : Number(version),
  };
  const metadata = isObject(document['metadata']) ? document['metadata'] : {};
  const bomTime = isoTimestamp(metadata['timestamp']);
  const claims: VexClaim[] = [];
  for (const [i, vuln] of vulnerabilities.entries()) {
    const where = `vulnerabilities[${i}]`;
    if (!isObject(vuln)) return err(invalidDocument('CycloneDX', digest, where, 'is not an object'));
    const vulnerabilityId = text(vuln['id']);
    if (vulnerabilityId === undefined) return err(invalidDocument('CycloneDX', digest, `${where}.id`, 'is missing'));
    const analysis = vuln['analysis'];
    // A vulnerability without an analysis state is inventory, not a VEX statement.
    if (!isObject(analysis) || analysis['state'] === undefined) continue;
    const state = text(analysis['state']);
    const status = state === undefined ? undefined : STATE_TO_STATUS.get(state);
    if (status === undefined) {
      return err(
        invalidDocument('CycloneDX', digest, `${where}.analysis.state`, `must be one of ${[...STATE_TO_STATUS.keys()].join(', ')}`),
      );
    }
    const affects = optionalArray(vuln['affects']);
    if (affects === undefined) return err(invalidDocument('CycloneDX', digest, `${where}.affects`, 'must be an array'));
    const justification = text(analysis['justification']);
    const note = text(analysis['detail']);
    const issuedAt =
      isoTimestamp(analysis['lastUpdated']) ??
      isoTimestamp(analysis['firstIssued']) ??
      isoTimestamp(vuln['updated']) ??
      isoTimestamp(vuln['published']) ??
      bomTime;
    for (const [j, affected] of affects.entries()) {
      const ref = isObject(affected) ? text(affected['ref']) : undefined;
      if (ref === undefined) return err(invalidDocument('CycloneDX', digest, `${where}.affects[${j}].ref`, 'is missing'));
      claims.push({
        vulnerabilityId,
        productKey: resolveRef(ref, refs, bom),
        status,
        ...(justification === undefined ? {} : { justification }),
        ...(note === undefined ? {} : { statement: note }),
        ...(issuedAt === undefined ? {} : { issuedAt }),
        documentDigest: digest,
        format: 'cyclonedx',
      });
    }
  }
  return ok(claims);
}

/**
 * Normalizes CycloneDX 1.4–1.6 VEX: one claim per vulnerability (`id`) and
 * `affects[].ref`, the ref resolved through the BOM's components (at any
 * depth, and `metadata.component`) to a purl, else a CPE, else the ref;
 * components nested deeper than 100,000 levels fail the document.
 * `analysis.state` maps `resolved`/`resolved_with_pedigree` → `fixed`,
 * `exploitable` → `affected`, `in_triage` → `under_investigation`,
 * `false_positive`/`not_affected` → `not_affected`. Vulnerabilities without
 * an analysis state are skipped.
 *
 * @example
 * ```ts
 * const claims = cycloneDxVexNormalizer.normalize(JSON.parse(text), { digest, retrievedAt });
 * ```
 */
export const cycloneDxVexNormalizer: VexNormalizer = Object.freeze({
  format: 'cyclonedx',
  canNormalize: (document: unknown) => detectVexFormat(document) === 'cyclonedx',
  normalize: normalizeCycloneDx,
});
