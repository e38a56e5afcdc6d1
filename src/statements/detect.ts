/**
 * Format detection from the document itself (not from file names or store
 * hints).
 *
 * @module
 */
import type { VexFormat } from './ports.js';
import { isObject, text } from './normalizers/fields.js';

/**
 * Says which VEX format a parsed JSON document is in, or `undefined`.
 *
 * - OpenVEX: `@context` starts with `https://openvex.dev/ns` and `statements` is present;
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
  if (context?.startsWith('https://openvex.dev/ns') && 'statements' in document) return 'openvex';
  const csaf = document['document'];
  if (isObject(csaf) && typeof csaf['csaf_version'] === 'string') return 'csaf';
  if (document['bomFormat'] === 'CycloneDX') return 'cyclonedx';
  return undefined;
}
