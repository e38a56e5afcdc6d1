/**
 * CSAF 2.0 gives a product at most one VEX justification per
 * vulnerability (mandatory test 6.1.33), counting the flags that name it
 * through a product group. A document whose flags gave one product two
 * (a group's flag and the product's own) had the claim store the first
 * one in document order, silently: reordering the flags changed the stored
 * justification. Such a document now fails with DOCUMENT_INVALID naming
 * both flags; the same label given twice is still one justification.
 */
import { describe, expect, it } from 'vitest';
import { csafVexNormalizer } from '../../../src/statements/normalizers/csaf.js';
import { csafOfAandB, expectRecordedFailure, useDatabaseWithDocument } from './one-failing-document.js';

const ctx = { digest: 'sha256:flags', retrievedAt: new Date('2026-01-01T00:00:00Z') };

/** A CSAF VEX document: products A and B, group G of both, both not affected by CVE-2026-0033, with `flags`. */
const withFlags = (flags: unknown[]) => csafOfAandB('CVE-2026-0033', [{ group_id: 'G', product_ids: ['A', 'B'] }], { flags });

const groupFlag = { label: 'component_not_present', group_ids: ['G'] };
const ownFlag = { label: 'vulnerable_code_not_present', product_ids: ['A'] };

const db = useDatabaseWithDocument(33, 'sha256:two-justifications', () => JSON.stringify(withFlags([groupFlag, ownFlag])));

describe('a CSAF product given two VEX justifications for one vulnerability', () => {
  it('fails its document, recorded with both flags, and stores neither justification', async () => {
    await expectRecordedFailure(
      db(),
      'flags',
      'sha256:two-justifications',
      'CSAF document sha256:two-justifications: vulnerabilities[0].flags[1] gives product "A" the justification "vulnerable_code_not_present", which vulnerabilities[0].flags[0] gives as "component_not_present": a product has one VEX justification per vulnerability (CSAF 2.0 mandatory test 6.1.33)',
    );
  });

  it('fails whichever order the flags come in, through a group named twice too', () => {
    const reversed = csafVexNormalizer.normalize(withFlags([ownFlag, groupFlag]), ctx);
    expect(reversed.isErr() && reversed.error.message).toBe(
      'CSAF document sha256:flags: vulnerabilities[0].flags[1] gives product "A" the justification "component_not_present", which vulnerabilities[0].flags[0] gives as "vulnerable_code_not_present": a product has one VEX justification per vulnerability (CSAF 2.0 mandatory test 6.1.33)',
    );
    const groupTwice = csafVexNormalizer.normalize(withFlags([groupFlag, { ...groupFlag, label: 'vulnerable_code_not_present' }]), ctx);
    expect(groupTwice.isErr() && groupTwice.error.message).toMatch(
      /flags\[1\] gives product "A" the justification "vulnerable_code_not_present", which vulnerabilities\[0\]\.flags\[0\] gives as "component_not_present"/,
    );
  });

  it('keeps one justification given twice, or given to two products apart', () => {
    const justified = (flags: unknown[]) =>
      csafVexNormalizer
        .normalize(withFlags(flags), ctx)
        ._unsafeUnwrap()
        .map((c) => [c.productKey, c.justification]);
    expect(justified([groupFlag, { ...ownFlag, label: groupFlag.label }, groupFlag])).toEqual([
      ['pkg:npm/a@1.0.0', 'component_not_present'],
      ['pkg:npm/b@1.0.0', 'component_not_present'],
    ]);
    expect(justified([ownFlag, { label: 'component_not_present', product_ids: ['B'] }])).toEqual([
      ['pkg:npm/a@1.0.0', 'vulnerable_code_not_present'],
      ['pkg:npm/b@1.0.0', 'component_not_present'],
    ]);
  });
});
