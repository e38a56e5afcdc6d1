/**
 * A seeded generator of raw VEX documents for tests and benchmarks: valid
 * OpenVEX 0.2.0, CSAF 2.0 VEX and CycloneDX 1.4–1.6 documents, plus
 * deliberately broken ones, each with the outcome a correct backfill must
 * reach.
 *
 * @module
 */
import { createHash } from 'node:crypto';
import { BackfillError } from '../errors.js';
import { instant, lastInstantFits, ratio, seedOf, spacing, subsetOf, wholeNumber } from './options.js';
import { SeededRandom } from './random.js';

/** What kind of document was generated. */
export type GeneratedVexKind = 'openvex' | 'csaf' | 'cyclonedx' | 'broken';

/** How a broken document is broken. */
export type BrokenVexKind =
  | 'truncated-json'
  | 'json-array'
  | 'unknown-format'
  | 'openvex-bad-status'
  | 'csaf-undefined-product'
  | 'cyclonedx-bad-state';

/** One generated raw document and what backfilling it must produce. */
export interface GeneratedVexDocument {
  /** `sha256:<hex>` of `content`. */
  readonly digest: string;
  readonly retrievedAt: Date;
  /** The document text (invalid JSON for `truncated-json`). */
  readonly content: string;
  readonly kind: GeneratedVexKind;
  readonly broken?: BrokenVexKind;
  /** Distinct `(vulnerability, product)` claims a correct normalizer yields; 0 for broken documents. */
  readonly expectedClaims: number;
  /** `DOCUMENT_INVALID` or `NO_NORMALIZER` for broken documents. */
  readonly expectedCode?: 'DOCUMENT_INVALID' | 'NO_NORMALIZER';
}

/**
 * Options of {@link generateVexDocuments}.
 *
 * @example
 * ```ts
 * const opts: GenerateVexDocumentsOptions = { seed: 7, count: 1000, brokenRatio: 0.05 };
 * ```
 */
export interface GenerateVexDocumentsOptions {
  /** Same seed, same documents, byte for byte: a whole number from 0 to 2^32 − 1. */
  readonly seed: number;
  /** How many documents: a whole number from 0. */
  readonly count: number;
  /**
   * Share of deliberately broken documents, from 0 to 1.
   * @defaultValue 0.05
   */
  readonly brokenRatio?: number;
  /**
   * `retrievedAt` of the first document (a valid `Date`).
   * @defaultValue 2025-10-01T00:00:00Z
   */
  readonly startAt?: Date;
  /**
   * Documents come in groups of three sharing one `retrievedAt` (to exercise
   * the digest tie-break); groups are this many milliseconds apart (a
   * finite number from 0, small enough that the last `retrievedAt` is a
   * valid `Date`).
   * @defaultValue 1000
   */
  readonly spacingMs?: number;
  /**
   * Formats of the valid documents, picked evenly: a non-empty list of
   * `'openvex'`, `'csaf'`, `'cyclonedx'`.
   * @defaultValue all three
   */
  readonly formats?: readonly ('openvex' | 'csaf' | 'cyclonedx')[];
  /**
   * Products per OpenVEX statement and per CSAF product tree, instead of a
   * few: with a few hundred, normalizing dominates a backfill's time (the
   * `statements` benchmark's heavy corpus). A whole number from 1: OpenVEX
   * requires a product in each statement.
   */
  readonly productsPerDocument?: number;
  /** Vulnerabilities per OpenVEX or CSAF document, instead of one to three: a whole number from 0. */
  readonly vulnerabilitiesPerDocument?: number;
  /**
   * How many products of its product tree each CSAF vulnerability gives a
   * status to, instead of about 80 %: a large tree with few statuses, as in
   * vendors' CSAF VEX files, costs normalizing much more than writing. A
   * whole number from 0.
   */
  readonly statusedProductsPerVulnerability?: number;
}

/** Fixed sizes of the large documents, when asked for. */
interface Shape {
  readonly products?: number;
  readonly vulnerabilities?: number;
  readonly statused?: number;
}

type Rng = SeededRandom;

const JUSTIFICATIONS = [
  'component_not_present',
  'vulnerable_code_not_present',
  'vulnerable_code_not_in_execute_path',
  'vulnerable_code_cannot_be_controlled_by_adversary',
  'inline_mitigations_already_exist',
];
const STATUSES = ['not_affected', 'affected', 'fixed', 'under_investigation'] as const;
const CDX_STATES = ['resolved', 'resolved_with_pedigree', 'exploitable', 'in_triage', 'false_positive', 'not_affected'];
const CDX_JUSTIFICATIONS = [
  'code_not_present',
  'code_not_reachable',
  'requires_configuration',
  'requires_environment',
  'protected_by_mitigating_control',
];
const ECOSYSTEMS = ['npm', 'maven/org.example', 'pypi', 'golang/example.com/mod', 'deb/debian', 'apk/alpine'];

/** `count` distinct vulnerability ids for document `n`. */
function vulnIds(rng: Rng, n: number, count: number): string[] {
  const base = rng.int(1000, 90000);
  return Array.from({ length: count }, (_, i) => `CVE-${2019 + ((n + i) % 7)}-${base + i * 7}`);
}

/** `count` distinct purls for document `n`. */
function purls(rng: Rng, n: number, count: number): string[] {
  const eco = rng.pick(ECOSYSTEMS);
  return Array.from({ length: count }, (_, i) => `pkg:${eco}/pkg-${n.toString(36)}-${i}@${rng.int(0, 9)}.${rng.int(0, 20)}.${i}`);
}

function openVex(rng: Rng, n: number, at: string, shape: Shape = {}): { doc: object; claims: number } {
  const vulns = vulnIds(rng, n, shape.vulnerabilities ?? rng.int(1, 3));
  let claims = 0;
  const statements = vulns.map((name, i) => {
    const status = rng.pick(STATUSES);
    const products = purls(rng, n * 10 + i, shape.products ?? rng.int(1, 2)).map((id, j) => {
      if (j === 0 && rng.next() < 0.3) {
        const subs = purls(rng, n * 100 + i, rng.int(1, 2));
        claims += subs.length;
        return { '@id': id, subcomponents: subs.map((s) => ({ '@id': s })) };
      }
      claims += 1;
      return { '@id': id, identifiers: { purl: id } };
    });
    return {
      vulnerability: { name },
      products,
      status,
      ...(status === 'not_affected'
        ? { justification: rng.pick(JUSTIFICATIONS), impact_statement: 'The vulnerable function is never called.' }
        : {}),
      ...(status === 'affected' ? { action_statement: 'Upgrade to the next release.' } : {}),
    };
  });
  return {
    doc: {
      '@context': 'https://openvex.dev/ns/v0.2.0',
      '@id': `https://openvex.dev/docs/example/gen-${n}`,
      author: 'backfill-kit generator',
      timestamp: at,
      version: 1,
      statements,
    },
    claims,
  };
}

function csaf(rng: Rng, n: number, at: string, shape: Shape = {}): { doc: object; claims: number } {
  const keys = purls(rng, n, shape.products ?? rng.int(2, 4));
  const products = keys.map((purl, i) => ({
    name: `Product ${n}-${i}`,
    product_id: `CSAFPID-${n}-${i}`,
    ...(i % 3 === 2
      ? {}
      : { product_identification_helper: i % 3 === 0 ? { purl } : { cpe: `cpe:2.3:a:example:product_${n}_${i}:1.0:*:*:*:*:*:*:*` } }),
  }));
  const product_tree = {
    branches: [
      {
        category: 'vendor',
        name: 'Example Vendor',
        branches: products.map((p, i) => ({
          category: 'product_name',
          name: `Product ${i}`,
          branches: [{ category: 'product_version', name: '1.0', product: p }],
        })),
      },
    ],
  };
  let claims = 0;
  const vulnerabilities = vulnIds(rng, n, shape.vulnerabilities ?? rng.int(1, 2)).map((cve) => {
    const lists: Record<string, string[]> = {};
    const notAffected: string[] = [];
    const offset = shape.statused === undefined ? 0 : rng.int(0, products.length - 1);
    for (const [i, p] of products.entries()) {
      if (shape.statused === undefined ? rng.next() < 0.2 : (i - offset + products.length) % products.length >= shape.statused) continue;
      const list = rng.pick(['known_not_affected', 'known_affected', 'fixed', 'under_investigation']);
      lists[list] ??= [];
      lists[list].push(p.product_id);
      if (list === 'known_not_affected') notAffected.push(p.product_id);
      claims += 1;
    }
    return {
      cve,
      product_status: lists,
      ...(notAffected.length
        ? {
            flags: [{ label: rng.pick(JUSTIFICATIONS), product_ids: notAffected }],
            threats: [{ category: 'impact', details: 'Not reachable.', product_ids: notAffected }],
          }
        : {}),
    };
  });
  return {
    doc: {
      document: {
        category: 'csaf_vex',
        csaf_version: '2.0',
        publisher: { category: 'vendor', name: 'Example Vendor PSIRT', namespace: 'https://psirt.example.com' },
        title: `Generated VEX ${n}`,
        tracking: {
          current_release_date: at,
          id: `GEN-${n}`,
          initial_release_date: at,
          revision_history: [{ date: at, number: '1', summary: 'Initial.' }],
          status: 'final',
          version: '1',
        },
      },
      product_tree,
      vulnerabilities,
    },
    claims,
  };
}

function cycloneDx(rng: Rng, n: number, at: string): { doc: object; claims: number } {
  const keys = purls(rng, n, rng.int(2, 4));
  const [first, ...rest] = keys.map((purl, i) => ({ type: 'library', 'bom-ref': `ref-${i}`, name: `lib-${i}`, version: '1.0.0', purl }));
  // Nest the rest under the first component, as a BOM of an application would.
  const components = [{ ...first, components: rest }];
  let claims = 0;
  const vulnerabilities = vulnIds(rng, n, rng.int(1, 3)).map((id) => {
    const state = rng.pick(CDX_STATES);
    const refs = keys.map((_, i) => `ref-${i}`).filter(() => rng.next() < 0.6);
    if (refs.length === 0) refs.push('ref-0');
    claims += refs.length;
    return {
      id,
      analysis: { state, ...(state === 'not_affected' ? { justification: rng.pick(CDX_JUSTIFICATIONS), detail: 'Not reachable.' } : {}) },
      affects: refs.map((ref) => ({ ref })),
    };
  });
  const serial = createHash('sha256').update(`cdx-${n}`).digest('hex');
  return {
    doc: {
      bomFormat: 'CycloneDX',
      specVersion: rng.pick(['1.4', '1.5', '1.6']),
      serialNumber: `urn:uuid:${serial.slice(0, 8)}-${serial.slice(8, 12)}-4${serial.slice(13, 16)}-8${serial.slice(17, 20)}-${serial.slice(20, 32)}`,
      version: 1,
      metadata: { timestamp: at },
      components,
      vulnerabilities,
    },
    claims,
  };
}

const BROKEN: readonly BrokenVexKind[] = [
  'truncated-json',
  'json-array',
  'unknown-format',
  'openvex-bad-status',
  'csaf-undefined-product',
  'cyclonedx-bad-state',
];

function broken(rng: Rng, n: number, at: string, kind: BrokenVexKind): { content: string; code: 'DOCUMENT_INVALID' | 'NO_NORMALIZER' } {
  switch (kind) {
    case 'truncated-json': {
      const text = JSON.stringify(openVex(rng, n, at).doc);
      return { content: text.slice(0, Math.floor(text.length / 2)), code: 'DOCUMENT_INVALID' };
    }
    case 'json-array':
      return { content: JSON.stringify([{ vulnerability: `CVE-2024-${n}` }]), code: 'NO_NORMALIZER' };
    case 'unknown-format':
      return {
        content: JSON.stringify({ spdxVersion: 'SPDX-2.3', SPDXID: 'SPDXRef-DOCUMENT', name: `gen-${n}`, packages: [] }),
        code: 'NO_NORMALIZER',
      };
    case 'openvex-bad-status': {
      const { doc } = openVex(rng, n, at);
      const statements = (doc as { statements: object[] }).statements.map((s, i) => (i === 0 ? { ...s, status: 'probably_fine' } : s));
      return { content: JSON.stringify({ ...doc, statements }), code: 'DOCUMENT_INVALID' };
    }
    case 'csaf-undefined-product': {
      const { doc } = csaf(rng, n, at);
      const vulns = (doc as { vulnerabilities: { product_status: Record<string, string[]> }[] }).vulnerabilities;
      const patched = vulns.map((v, i) =>
        i === 0 ? { ...v, product_status: { ...v.product_status, fixed: [...(v.product_status['fixed'] ?? []), 'CSAFPID-UNDEFINED'] } } : v,
      );
      return { content: JSON.stringify({ ...doc, vulnerabilities: patched }), code: 'DOCUMENT_INVALID' };
    }
    case 'cyclonedx-bad-state': {
      const { doc } = cycloneDx(rng, n, at);
      const vulns = (doc as { vulnerabilities: { analysis: object }[] }).vulnerabilities;
      const patched = vulns.map((v, i) => (i === 0 ? { ...v, analysis: { state: 'patched_probably' } } : v));
      return { content: JSON.stringify({ ...doc, vulnerabilities: patched }), code: 'DOCUMENT_INVALID' };
    }
  }
}

/**
 * Yields `count` raw VEX documents, deterministically from `seed`: a mix of
 * OpenVEX, CSAF and CycloneDX (roughly a third each) and `brokenRatio`
 * broken documents (bad JSON, unknown formats, invalid fields), in ascending
 * `retrievedAt`. Each carries the number of claims or the error code a
 * correct backfill reaches, computed by construction rather than by the
 * normalizers under test. It is a generator, so 100,000 documents never sit
 * in memory at once.
 *
 * Throws a `BackfillError` `INVALID_ARGUMENT`, naming the option, at
 * the call (before the first document) for an option outside the range its
 * documentation gives: a count or seed that is not a whole number, a
 * `brokenRatio` outside 0–1, an unknown format, an invalid `startAt`, or
 * a key that is no option (a misspelt `brokenratio` would leave the default
 * share of broken documents in force).
 *
 * @example
 * ```ts
 * for (const doc of generateVexDocuments({ seed: 42, count: 450 })) {
 *   await source.append([{ digest: doc.digest, retrievedAt: doc.retrievedAt, content: doc.content }]);
 * }
 * ```
 */
export function generateVexDocuments(options: GenerateVexDocumentsOptions): Generator<GeneratedVexDocument> {
  // Checked at the call, before the first document: a generator's body would only run at the first next().
  const o = (options ?? {}) as unknown as Record<string, unknown>;
  // A misspelt option (`brokenratio: 0`) would otherwise leave its default in force without a word.
  const unknown = Object.keys(o).find((key) => !OPTION_NAMES.has(key));
  if (unknown !== undefined) {
    throw new BackfillError(
      'INVALID_ARGUMENT',
      `${JSON.stringify(unknown)} is not an option of generateVexDocuments; the options are ${[...OPTION_NAMES].join(', ')}.`,
      { context: { option: unknown } },
    );
  }
  const count = wholeNumber(o['count'], 'count', 0);
  const start = o['startAt'] === undefined ? DEFAULT_START : instant(o['startAt'], 'startAt');
  const spacingMs = o['spacingMs'] === undefined ? 1000 : spacing(o['spacingMs'], 'spacingMs');
  lastInstantFits(start, spacingMs, count);
  const shape: Shape = {
    ...(o['productsPerDocument'] === undefined ? {} : { products: wholeNumber(o['productsPerDocument'], 'productsPerDocument', 1) }),
    ...(o['vulnerabilitiesPerDocument'] === undefined
      ? {}
      : { vulnerabilities: wholeNumber(o['vulnerabilitiesPerDocument'], 'vulnerabilitiesPerDocument', 0) }),
    ...(o['statusedProductsPerVulnerability'] === undefined
      ? {}
      : { statused: wholeNumber(o['statusedProductsPerVulnerability'], 'statusedProductsPerVulnerability', 0) }),
  };
  return documents({
    seed: seedOf(o['seed']),
    count,
    brokenRatio: o['brokenRatio'] === undefined ? 0.05 : ratio(o['brokenRatio'], 'brokenRatio'),
    start,
    spacingMs,
    formats: o['formats'] === undefined ? FORMATS : subsetOf(o['formats'], 'formats', FORMATS),
    shape,
  });
}

/** Every option of {@link GenerateVexDocumentsOptions}; any other key is refused. */
const OPTION_NAMES: ReadonlySet<string> = new Set([
  'seed',
  'count',
  'brokenRatio',
  'startAt',
  'spacingMs',
  'formats',
  'productsPerDocument',
  'vulnerabilitiesPerDocument',
  'statusedProductsPerVulnerability',
] satisfies (keyof GenerateVexDocumentsOptions)[]);

const DEFAULT_START = Date.parse('2025-10-01T00:00:00Z');
const FORMATS = ['openvex', 'csaf', 'cyclonedx'] as const;

/** Checked options of {@link generateVexDocuments}. */
interface Checked {
  readonly seed: number;
  readonly count: number;
  readonly brokenRatio: number;
  readonly start: number;
  readonly spacingMs: number;
  readonly formats: readonly (typeof FORMATS)[number][];
  readonly shape: Shape;
}

function* documents({ seed, count, brokenRatio, start, spacingMs, formats, shape }: Checked): Generator<GeneratedVexDocument> {
  const rng = new SeededRandom(seed);
  for (let n = 0; n < count; n += 1) {
    const retrievedAt = new Date(start + Math.floor(n / 3) * spacingMs);
    const at = retrievedAt.toISOString();
    let content: string;
    let kind: GeneratedVexKind;
    let expectedClaims = 0;
    let extra: { broken: BrokenVexKind; expectedCode: 'DOCUMENT_INVALID' | 'NO_NORMALIZER' } | undefined;
    if (rng.next() < brokenRatio) {
      const which = rng.pick(BROKEN);
      const b = broken(rng, n, at, which);
      content = b.content;
      kind = 'broken';
      extra = { broken: which, expectedCode: b.code };
    } else {
      kind = rng.pick(formats);
      const made = kind === 'openvex' ? openVex(rng, n, at, shape) : kind === 'csaf' ? csaf(rng, n, at, shape) : cycloneDx(rng, n, at);
      content = JSON.stringify(made.doc);
      expectedClaims = made.claims;
    }
    const digest = `sha256:${createHash('sha256').update(content).digest('hex')}`;
    yield { digest, retrievedAt, content, kind, expectedClaims, ...(extra ?? {}) };
  }
}
