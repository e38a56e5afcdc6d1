/**
 * CSAF 2.0 defines each product group id once (mandatory test 6.1.5). A
 * document defining one group id twice with different products had the
 * last definition taken, silently: the flags, impact threats and
 * remediations naming the group reached that definition's products only,
 * so swapping the two definitions moved a justification and a statement
 * from one product's claim to another's. Such a document now fails with
 * DOCUMENT_INVALID naming both definitions; the same products defined
 * twice (in any order) are one group.
 */
import { describe, expect, it } from 'vitest';
import { csafVexNormalizer } from '../../../src/statements/normalizers/csaf.js';
import { csafOfAandB, expectRecordedFailure, useDatabaseWithDocument } from './one-failing-document.js';

const ctx = { digest: 'sha256:regrouped', retrievedAt: new Date('2026-01-01T00:00:00Z') };

/** Products A and B, both not affected by CVE-2026-0005; the flag and the impact threat name group G, as `groups` define it. */
const withGroups = (groups: unknown[]) =>
  csafOfAandB('CVE-2026-0005', groups, {
    flags: [{ label: 'component_not_present', group_ids: ['G'] }],
    threats: [{ category: 'impact', details: 'not shipped', group_ids: ['G'] }],
  });

const groupOf = (...ids: string[]) => ({ group_id: 'G', product_ids: ids });

const db = useDatabaseWithDocument(5, 'sha256:regrouped', () => JSON.stringify(withGroups([groupOf('A'), groupOf('B')])));

describe('a CSAF product group id defined twice', () => {
  it('with different products fails its document, recorded naming both definitions, and stores no claim of it', async () => {
    await expectRecordedFailure(
      db(),
      'regrouped',
      'sha256:regrouped',
      'CSAF document sha256:regrouped: product_tree.product_groups[1] defines group "G" again, with other products than product_groups[0] (CSAF 2.0 mandatory test 6.1.5)',
    );
  });

  it('with the same products, in any order, is one group', () => {
    const claims = csafVexNormalizer.normalize(withGroups([groupOf('A', 'B'), groupOf('B', 'A', 'B')]), ctx)._unsafeUnwrap();
    expect(claims.map((c) => [c.productKey, c.justification, c.statement])).toEqual([
      ['pkg:npm/a@1.0.0', 'component_not_present', 'not shipped'],
      ['pkg:npm/b@1.0.0', 'component_not_present', 'not shipped'],
    ]);
  });
});
