/**
 * Format detection from the document itself (not from file names or store
 * hints).
 *
 * @module
 */
import type { BackfillError } from '../errors.js';
import type { VexFormat } from './ports.js';
import { invalidDocument, isObject, text } from './normalizers/fields.js';

/** The OpenVEX context: `https://openvex.dev/ns/v[version]`, or the bare `…/ns` of documents before 0.2; not any text that starts alike (`…/nsX`). */
const OPENVEX_CONTEXT = /^https:\/\/openvex\.dev\/ns(\/v\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?)?$/;

/**
 * Says which VEX format a parsed JSON document is in, or `undefined`.
 *
 * - OpenVEX: `@context` is `https://openvex.dev/ns/v` and a version (`…/ns/v0.2.0`), or
 *   `https://openvex.dev/ns` alone (documents before 0.2), and `statements` is present;
 * - CSAF: `document.csaf_version` is a string;
 * - CycloneDX: `bomFormat` is `CycloneDX`.
 *
 * @example
 * ```ts
 * detectVexFormat(JSON.parse(text)); // 'openvex' | 'csaf' | 'cyclonedx' | undefined
 * ```
 */
export function detectVexFormat(document: unknown): VexFormat | undefined {
  return MARKERS.find((m) => m.marks(document))?.format;
}

/** What marks a document as one format, in the order formats are detected, and how a message names it. */
const MARKERS: readonly {
  readonly format: VexFormat;
  readonly name: string;
  readonly field: string;
  readonly marks: (document: unknown) => boolean;
}[] = [
  {
    format: 'openvex',
    name: 'OpenVEX',
    field: '@context',
    marks: (d) => {
      const context = isObject(d) ? text(d['@context']) : undefined;
      return context !== undefined && OPENVEX_CONTEXT.test(context) && 'statements' in (d as object);
    },
  },
  {
    format: 'csaf',
    name: 'CSAF',
    field: 'document.csaf_version',
    marks: (d) => isObject(d) && isObject(d['document']) && typeof d['document']['csaf_version'] === 'string',
  },
  { format: 'cyclonedx', name: 'CycloneDX', field: 'bomFormat', marks: (d) => isObject(d) && d['bomFormat'] === 'CycloneDX' },
];

/**
 * `DOCUMENT_INVALID` for a document that carries the markers of another
 * format besides `format` (see {@link detectVexFormat}), if it does: each
 * format's schema refuses the other's fields, so such a document is valid
 * in none, and which one it is read as (the first that detection finds)
 * would decide its claims: a CycloneDX BOM given a `document.csaf_version`
 * would be read as CSAF, its analyses unread and the document stored as
 * backfilled without a claim.
 */
export function twoFormats(format: VexFormat, document: unknown, digest: string): BackfillError | undefined {
  const self = MARKERS.find((m) => m.format === format);
  const other = MARKERS.find((m) => m.format !== format && m.marks(document));
  if (self === undefined || other === undefined) return undefined;
  return invalidDocument(
    self.name,
    digest,
    other.field,
    `marks it as ${other.name} too: a document in two formats is valid in neither, and which one it is read as would decide its claims`,
  );
}
