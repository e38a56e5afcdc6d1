/**
 * CycloneDX 1.4–1.6 VEX (a BOM's `vulnerabilities` with `analysis`) to claims.
 *
 * @module
 */
import { err, ok, type Result } from 'neverthrow';
import type { BackfillError } from '../../errors.js';
import { detectVexFormat, twoFormats } from '../detect.js';
import type { ClaimStatus, NormalizeContext, VexClaim, VexNormalizer } from '../ports.js';
import { productIdentity, withoutTrailingSlashes } from './purl.js';
import { versContains } from './vers.js';
import {
  ClaimsByKey,
  invalidDocument,
  isObject,
  isoTimestamp,
  keyTooLong,
  kindOf,
  MAX_NESTING,
  optionalArray,
  text,
  walkNested,
  type JsonObject,
} from './fields.js';

/** CycloneDX `analysis.state` (impactAnalysisState) to the claim status set: a map, so `constructor` or `__proto__` is no state. */
const STATE_TO_STATUS: ReadonlyMap<string, ClaimStatus> = new Map([
  ['resolved', 'fixed'],
  ['resolved_with_pedigree', 'fixed'],
  ['exploitable', 'affected'],
  ['in_triage', 'under_investigation'],
  ['false_positive', 'not_affected'],
  ['not_affected', 'not_affected'],
]);

/** What an `affects[].ref` names: its product key, and the component's version when the BOM gives one. */
interface Affected {
  readonly key: string;
  readonly version?: string;
}

/**
 * The version in a purl (`pkg:type/name@version?qualifiers#subpath`), if it
 * has one: after an `@` in its last segment, as {@link productIdentity}
 * reads it, so the `@` of a scope written unencoded (`pkg:npm/@scope/name`,
 * for `%40scope`) is no version separator.
 */
function purlVersion(purl: string): string | undefined {
  const path = withoutTrailingSlashes(purl.split(/[?#]/, 1)[0] ?? '');
  const at = path.lastIndexOf('@');
  if (at < 0 || at < path.lastIndexOf('/')) return undefined;
  try {
    return text(decodeURIComponent(path.slice(at + 1)));
  } catch {
    return text(path.slice(at + 1));
  }
}

/**
 * The lists of components and services a BOM's `bom-ref`s can name, each
 * with where it is: `metadata.component` (a list of one, named without an
 * index), `components`, `services`, the tools of `metadata.tools` (1.5+) and
 * each `formulation` entry's (1.5+).
 */
function rootLists(bom: JsonObject): (readonly [where: string, list: unknown, single: boolean])[] {
  const metadata = isObject(bom['metadata']) ? bom['metadata'] : {};
  const tools = isObject(metadata['tools']) ? metadata['tools'] : {};
  const roots: (readonly [string, unknown, boolean])[] = [
    ['metadata.component', [metadata['component']], true],
    ['components', bom['components'], false],
    ['services', bom['services'], false],
    ['metadata.tools.components', tools['components'], false],
    ['metadata.tools.services', tools['services'], false],
  ];
  for (const [f, formula] of (optionalArray(bom['formulation']) ?? []).entries()) {
    if (!isObject(formula)) continue;
    roots.push([`formulation[${f}].components`, formula['components'], false], [`formulation[${f}].services`, formula['services'], false]);
  }
  return roots;
}

/**
 * Visits every component and service of the BOM at any depth (nested
 * `components` and `services`), in document order, with where it is; false
 * when they nest deeper than {@link MAX_NESTING}.
 */
function walkBom(bom: JsonObject, visit: (node: JsonObject, where: () => string) => void): boolean {
  return rootLists(bom).every(([top, list, single]) =>
    walkNested(list, ['components', 'services'], (node, place) =>
      visit(node, () => {
        const [[, root] = ['', 0], ...below] = place();
        return (single ? top : `${top}[${root}]`) + below.map(([key, k]) => `.${key}[${k}]`).join('');
      }),
    ),
  );
}

/**
 * `bom-ref` → purl, else CPE, else the ref itself (with the version in
 * the component's purl, else its `version`: a claim keyed by the purl is
 * about the purl's version), for every component and service at any depth
 * (see {@link rootLists}; nested `components` and `services`), however deep
 * the thread's stack. A bom-ref is unique within a BOM (CycloneDX): two
 * components with one ref fail the document, naming both places, unless
 * they resolve alike (one product key, one version), when it is one
 * component given twice. Also fails when they nest deeper than
 * {@link MAX_NESTING} (a parsed object that loops).
 */
function indexComponents(bom: JsonObject, digest: string): Result<Map<string, Affected>, BackfillError> {
  const refs = new Map<string, Affected>();
  let clash: { readonly ref: string; readonly where: string; readonly affected: Affected } | undefined;
  const walked = walkBom(bom, (component, where) => {
    const ref = text(component['bom-ref']);
    if (ref === undefined || clash !== undefined) return;
    const purl = text(component['purl']);
    // The purl's version first: a claim keyed by the purl is about that version, whatever `version` says.
    const version = (purl === undefined ? undefined : purlVersion(purl)) ?? text(component['version']);
    const affected = { key: purl ?? text(component['cpe']) ?? ref, ...(version === undefined ? {} : { version }) };
    const first = refs.get(ref);
    if (first === undefined) refs.set(ref, affected);
    else if (productIdentity(first.key) !== productIdentity(affected.key) || first.version !== affected.version) {
      clash = { ref, where: where(), affected };
    }
  });
  if (!walked) return err(invalidDocument('CycloneDX', digest, 'components', `nest deeper than ${MAX_NESTING} levels`));
  if (clash === undefined) return ok(refs);
  const { ref, where, affected } = clash;
  // Places are costly to keep for every component: the first with the ref is found again, only for the message.
  let firstAt = '';
  walkBom(bom, (component, at) => {
    if (firstAt === '' && text(component['bom-ref']) === ref) firstAt = at();
  });
  const first = refs.get(ref) as Affected;
  return err(
    invalidDocument(
      'CycloneDX',
      digest,
      where,
      `has bom-ref ${JSON.stringify(ref)}, which ${firstAt} has too, as ${named(first)} and here as ${named(affected)}: a bom-ref names one component within a BOM`,
    ),
  );
}

/** A component as a message names it: its product key, and its version when it has one. */
const named = (a: Affected): string => JSON.stringify(a.key) + (a.version === undefined ? '' : ` version ${JSON.stringify(a.version)}`);

/**
 * This BOM as a BOM-Link names it: its serial number's UUID (lower case:
 * UUIDs compare case-insensitively) and its version as a link writes it (1
 * when absent). Undefined when the BOM's `version` is no integer ≥ 1 (the
 * schema's type): `"1"`, `[1]` or `true` name no version a link could.
 */
interface ThisBom {
  readonly uuid: string | undefined;
  readonly version: string | undefined;
}

/** The version of {@link ThisBom}; a safe integer only, as a larger one is not the number the document wrote. */
const bomVersion = (version: unknown): string | undefined =>
  version === undefined ? '1' : typeof version === 'number' && Number.isSafeInteger(version) && version >= 1 ? String(version) : undefined;

/** A BOM-Link to an element, `urn:cdx:<serial's UUID>/<version>#<bom-ref>` (the schema's `bomLinkElementType`, the UUID in any case). */
const BOM_LINK = /^urn:cdx:([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\/([1-9][0-9]*)#(.+)$/i;

/**
 * Resolves an `affects[].ref`: a BOM-Link (see {@link BOM_LINK}) into this
 * same BOM, serial and version, by its bom-ref, else a local `bom-ref`. A
 * ref written as a BOM-Link is read as one, even when a `bom-ref` is spelled
 * alike: CycloneDX asks that no `bom-ref` start with `urn:cdx:`, so as not
 * to be taken for a link. A link into another BOM, or another version of
 * this one, cannot be resolved here and is kept as written.
 */
function resolveRef(ref: string, refs: ReadonlyMap<string, Affected>, bom: ThisBom): Affected {
  const link = BOM_LINK.exec(ref);
  if (link === null) return refs.get(ref) ?? { key: ref };
  if (link[1]?.toLowerCase() !== bom.uuid || link[2] !== bom.version) return { key: ref };
  let fragment = link[3] ?? '';
  try {
    fragment = decodeURIComponent(fragment);
  } catch {
    // A malformed escape is kept literally.
  }
  return refs.get(fragment) ?? { key: ref };
}

/** Why `value`, which {@link text} does not read, is no `what`: a number or an object said as such rather than as missing. */
const notText = (value: unknown, what: string): string =>
  value === undefined || value === null ? 'is missing' : typeof value === 'string' ? 'is empty' : `is ${kindOf(value)}, not ${what}`;

/** CycloneDX `affectedStatus`, the status of one version or range of an affected component. */
const VERSION_STATUSES: ReadonlySet<string> = new Set(['affected', 'unaffected', 'unknown']);

/**
 * The status `affects[].versions` gives the affected component. Each entry's
 * status is `affected` when absent (the schema's default). Undefined when the
 * list is empty or absent.
 *
 * - A component whose version is known: the entries naming that version
 *   (`version`), else the `vers:` ranges (`range`) that contain it (see
 *   {@link versContains}), if they agree; `unknown` when they disagree, when
 *   a range could not be evaluated, or when no entry covers the version (the
 *   list then says nothing about it).
 * - A component without a version: the one status every entry has, else
 *   `unknown`.
 */
function versionStatus(
  versions: readonly unknown[],
  affected: Affected,
  where: string,
  digest: string,
): Result<string | undefined, BackfillError> {
  const statuses: string[] = [];
  const named: string[] = [];
  const containing: string[] = [];
  let undecided = false;
  for (const [k, entry] of versions.entries()) {
    if (!isObject(entry)) return err(invalidDocument('CycloneDX', digest, `${where}[${k}]`, 'is not an object'));
    const status = entry['status'] === undefined || entry['status'] === null ? 'affected' : text(entry['status']);
    if (status === undefined || !VERSION_STATUSES.has(status)) {
      return err(invalidDocument('CycloneDX', digest, `${where}[${k}].status`, `must be one of ${[...VERSION_STATUSES].join(', ')}`));
    }
    statuses.push(status);
    if (affected.version === undefined) continue;
    const version = text(entry['version']);
    const range = text(entry['range']);
    if (version !== undefined) {
      if (version === affected.version) named.push(status);
    } else if (range !== undefined) {
      const inRange = versContains(range, affected.version);
      if (inRange === undefined) undecided = true;
      else if (inRange) containing.push(status);
    }
  }
  if (statuses.length === 0) return ok(undefined);
  if (affected.version === undefined) return ok(agreed(statuses));
  if (named.length > 0) return ok(agreed(named));
  return ok(undecided || containing.length === 0 ? 'unknown' : agreed(containing));
}

/** The one status all of `statuses` have, else `unknown`. */
const agreed = (statuses: readonly string[]): string => (statuses.every((s) => s === statuses[0]) ? (statuses[0] as string) : 'unknown');

/**
 * The claim's status from the analysis's and the component version's: an
 * affected version takes the analysis; an unaffected one is `not_affected`
 * unless the analysis says `fixed` or `not_affected` itself; an unknown one
 * is `under_investigation`. Undefined: the analysis's status, justification
 * and detail stand.
 */
function overriddenStatus(analysis: ClaimStatus, version: string | undefined): ClaimStatus | undefined {
  if (version === undefined || version === 'affected') return undefined;
  if (version === 'unaffected') return analysis === 'fixed' || analysis === 'not_affected' ? undefined : 'not_affected';
  return analysis === 'under_investigation' ? undefined : 'under_investigation';
}

function normalizeCycloneDx(document: unknown, context: NormalizeContext): Result<readonly VexClaim[], BackfillError> {
  const { digest } = context;
  if (!isObject(document)) return err(invalidDocument('CycloneDX', digest, 'document', 'is not a JSON object'));
  const mixed = twoFormats('cyclonedx', document, digest);
  if (mixed !== undefined) return err(mixed);
  const vulnerabilities = optionalArray(document['vulnerabilities']);
  if (vulnerabilities === undefined) return err(invalidDocument('CycloneDX', digest, 'vulnerabilities', 'must be an array'));
  const indexed = indexComponents(document, digest);
  if (indexed.isErr()) return err(indexed.error);
  const refs = indexed.value;
  const serial = text(document['serialNumber']);
  const bom: ThisBom = {
    uuid: serial !== undefined && /^urn:uuid:/i.test(serial) ? serial.slice('urn:uuid:'.length).toLowerCase() : undefined,
    version: bomVersion(document['version']),
  };
  const metadata = isObject(document['metadata']) ? document['metadata'] : {};
  const bomTime = isoTimestamp(metadata['timestamp']);
  // CycloneDX gives no order in which one analysis overrides another: two that disagree about a component contradict each other.
  const claims = new ClaimsByKey();
  for (const [i, vuln] of vulnerabilities.entries()) {
    const where = `vulnerabilities[${i}]`;
    if (!isObject(vuln)) return err(invalidDocument('CycloneDX', digest, where, 'is not an object'));
    const analysis = vuln['analysis'];
    // A vulnerability without an analysis state is inventory, not a VEX statement: it needs no id (the schema asks for none).
    if (!isObject(analysis) || analysis['state'] === undefined) continue;
    const vulnerabilityId = text(vuln['id']);
    if (vulnerabilityId === undefined) return err(invalidDocument('CycloneDX', digest, `${where}.id`, notText(vuln['id'], 'an id')));
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
    for (const [j, entry] of affects.entries()) {
      const ref = isObject(entry) ? text(entry['ref']) : undefined;
      if (ref === undefined) {
        return err(
          invalidDocument('CycloneDX', digest, `${where}.affects[${j}].ref`, notText(isObject(entry) ? entry['ref'] : undefined, 'a ref')),
        );
      }
      const affected = resolveRef(ref, refs, bom);
      const tooLong = keyTooLong(vulnerabilityId, affected.key);
      if (tooLong !== undefined) return err(invalidDocument('CycloneDX', digest, `${where}.affects[${j}]`, tooLong));
      const versionsAt = `${where}.affects[${j}].versions`;
      const versions = isObject(entry) ? optionalArray(entry['versions']) : [];
      if (versions === undefined) return err(invalidDocument('CycloneDX', digest, versionsAt, 'must be an array'));
      const ofVersion = versionStatus(versions, affected, versionsAt, digest);
      if (ofVersion.isErr()) return err(ofVersion.error);
      // A status the component's version overrides keeps none of the analysis's reasons.
      const overridden = overriddenStatus(status, ofVersion.value);
      const claim: VexClaim = {
        vulnerabilityId,
        productKey: affected.key,
        status: overridden ?? status,
        ...(justification === undefined || overridden !== undefined ? {} : { justification }),
        ...(note === undefined || overridden !== undefined ? {} : { statement: note }),
        ...(issuedAt === undefined ? {} : { issuedAt }),
        documentDigest: digest,
        format: 'cyclonedx',
      };
      const contradiction = claims.add(claim, `${where}.affects[${j}]`);
      if (contradiction !== undefined) {
        return err(
          invalidDocument(
            'CycloneDX',
            digest,
            `${where}.affects[${j}]`,
            `${contradiction}: a component has one analysis per vulnerability; merge the two entries or drop one`,
          ),
        );
      }
    }
  }
  return ok(claims.claims);
}

/**
 * Normalizes CycloneDX 1.4–1.6 VEX: one claim per vulnerability (`id`) and
 * `affects[].ref`, the ref resolved through the BOM's components and
 * services (`metadata.component`, `components`, `services`, the components
 * and services of `metadata.tools` and of each `formulation` entry, and
 * the `components` and `services` nested in any of them, at any depth) to
 * a purl, else a CPE, else the ref; a BOM-Link into this BOM (its serial
 * number and `version`, 1 when absent) resolves alike by its bom-ref, one
 * into another BOM or version is kept as written, and so is every link when
 * `version` is no integer from 1; a ref written as a BOM-Link is read as
 * one, never as a `bom-ref` spelled alike;
 * components and services nested deeper than 100,000 levels fail the
 * document, and so do two components with one `bom-ref` (unique within a BOM) unless they
 * resolve alike, one product key and version, when they are one component
 * given twice.
 * `analysis.state` maps `resolved`/`resolved_with_pedigree` → `fixed`,
 * `exploitable` → `affected`, `in_triage` → `under_investigation`,
 * `false_positive`/`not_affected` → `not_affected`. Vulnerabilities without
 * an analysis state are skipped, with or without an `id`; one with a state
 * and no `id` fails the document. An affected component's `versions` (1.4+)
 * refine it: with the component's own version known (its purl's, else its
 * `version`), the entries naming it, else the `vers:` ranges containing it
 * (plain numeric bounds only, not differing from the version in trailing
 * zeros alone where the scheme orders `1.1` before `1.1.0`), else `unknown`; without one, the one status
 * all entries share, else `unknown`;
 * `unaffected` makes the claim `not_affected` (unless the analysis says
 * fixed or not affected), `unknown` makes it `under_investigation`, both
 * without the analysis's justification and detail. Two `affects` entries
 * (in one vulnerability or in two with the same `id`) that make different
 * claims about one product key (status, justification or detail) fail
 * the document, naming both; the same claim given twice is kept once, and
 * two that differ only in their time are one claim with the later time.
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
