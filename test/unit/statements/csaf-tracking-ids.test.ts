/**
 * A CSAF vulnerability without a `cve` is named by its first `ids[]` entry,
 * and CSAF defines an id as a `text` unique within its `system_name`. Two
 * items giving one text in two tracking systems (issue 42 of one tracker,
 * bug 42 of another) were taken as one vulnerability: claims that agreed were
 * stored once, as if one of the two vulnerabilities did not exist, and claims
 * that disagreed failed the document as contradicting each other. They are
 * now two vulnerabilities, each named `system_name:text`; a document with no
 * such shared text keeps its bare ids.
 */
import { describe, expect, it } from 'vitest';
import { csafVexNormalizer } from '../../../src/statements/normalizers/csaf.js';

const ctx = { digest: 'sha256:ids', retrievedAt: new Date('2026-01-01T00:00:00Z') };

const csaf = (vulnerabilities: unknown[]): unknown => ({
  document: { csaf_version: '2.0', category: 'csaf_vex' },
  product_tree: { full_product_names: [{ product_id: 'A', name: 'a', product_identification_helper: { purl: 'pkg:rpm/a@1' } }] },
  vulnerabilities,
});
const item = (system: string, id: string, status: string): unknown => ({
  ids: [{ system_name: system, text: id }],
  product_status: { [status]: ['A'] },
});
const claimsOf = (vulnerabilities: unknown[]): string[] =>
  csafVexNormalizer
    .normalize(csaf(vulnerabilities), ctx)
    ._unsafeUnwrap()
    .map((c) => `${c.vulnerabilityId}|${c.status}`);

describe('csafVexNormalizer and ids[] of two tracking systems', () => {
  it('makes one text in two systems two vulnerabilities, even when their claims disagree', () => {
    expect(claimsOf([item('GitHub Issue', '42', 'known_affected'), item(' Cisco Bug ID ', '42', 'known_not_affected')])).toEqual([
      'GitHub Issue:42|affected',
      'Cisco Bug ID:42|not_affected',
    ]);
  });

  it('keeps both when their claims agree, and merges the repeats within one system', () => {
    expect(
      claimsOf([item('GitHub Issue', '42', 'fixed'), item('Cisco Bug ID', '42', 'fixed'), item('GitHub Issue', '42 ', 'fixed')]),
    ).toEqual(['GitHub Issue:42|fixed', 'Cisco Bug ID:42|fixed']);
  });

  it('keeps the bare text of ids no other system shares, and ignores a cve item', () => {
    expect(
      claimsOf([
        item('GitHub Issue', '42', 'fixed'),
        item('GitHub Issue', '42', 'fixed'),
        item('Cisco Bug ID', '7', 'fixed'),
        { cve: 'CVE-2026-0001', ids: [{ system_name: 'Cisco Bug ID', text: '42' }], product_status: { fixed: ['A'] } },
      ]),
    ).toEqual(['42|fixed', '7|fixed', 'CVE-2026-0001|fixed']);
  });
});
