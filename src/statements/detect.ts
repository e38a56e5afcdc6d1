/**
 * Format detection from the document itself (not from file names or store
 * hints).
 *
 * @module
 */
import type { VexFormat } from './ports.js';
import { isObject, text } from './normalizers/fields.js';

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
  if (!isObject(document)) return undefined;
  const context = text(document['@context']);
  if (context !== undefined && OPENVEX_CONTEXT.test(context) && 'statements' in document) return 'openvex';
  const csaf = document['document'];
  if (isObject(csaf) && typeof csaf['csaf_version'] === 'string') return 'csaf';
  if (document['bomFormat'] === 'CycloneDX') return 'cyclonedx';
  return undefined;
}
