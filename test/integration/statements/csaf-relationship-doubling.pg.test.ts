/**
 * A CSAF relationship without an identification helper is keyed
 * `platform::component`, joined from the keys of the two products it
 * relates. A relationship relating a product to itself doubles its key, and
 * a chain of them doubles it at each step: 23 such relationships asked for a
 * key of 218 million characters, and three such chains, a 12 kB document,
 * for more memory than the process had. Building them exhausted the heap
 * and killed the backfill process, on every resume: the
 * document was never recorded as a failure and the run could not get past
 * it. A key is now refused as soon as a join would make it longer than any
 * claim's key may be, and the document fails on its own like any other
 * whose key is too long.
 */
import { describe, expect, it } from 'vitest';
import { csafVexNormalizer } from '../../../src/statements/normalizers/csaf.js';
import { expectRecordedFailure, useDatabaseWithDocument } from './one-failing-document.js';
import { stepsOf } from '../../support/work-count.js';

/** A CSAF VEX document whose `chains` affected products are each `depth` relationships, each relating the one before to itself. */
function doublingChain(depth: number, chains = 1): string {
  const names = [];
  const relationships = [];
  const affected = [];
  for (let c = 0; c < chains; c += 1) {
    names.push({ name: 'base', product_id: `B${c}`, product_identification_helper: { purl: `pkg:npm/doubling-${c}@1.0.0` } });
    for (let k = 1; k <= depth; k += 1) {
      const before = k === 1 ? `B${c}` : `R${c}-${k - 1}`;
      relationships.push({
        category: 'default_component_of',
        product_reference: before,
        relates_to_product_reference: before,
        full_product_name: { name: 'r', product_id: `R${c}-${k}` },
      });
    }
    affected.push(`R${c}-${depth}`);
  }
  return JSON.stringify({
    document: { csaf_version: '2.0', category: 'csaf_vex', tracking: { current_release_date: '2026-01-01T00:00:00Z' } },
    product_tree: { full_product_names: names, relationships },
    vulnerabilities: [{ cve: 'CVE-2026-0001', product_status: { known_affected: affected } }],
  });
}

const MESSAGE =
  'CSAF document sha256:doubling: vulnerabilities[0].product_status.known_affected[0] names product "R0-23", whose key, joined through product_tree.relationships, would be at least 3326 characters long: more than the 2600 bytes a claim\'s key may have in UTF-8 (a statements index entry)';

const db = useDatabaseWithDocument(7, 'sha256:doubling', () => doublingChain(23, 3));

describe('a CSAF document whose relationships double a product key at each step', () => {
  it('fails on its own, recorded with its digest, instead of exhausting the memory of the backfill', async () => {
    // 256 MB of heap: a small container's worth, and less than the keys of 218 million characters the chains asked for.
    const run = await expectRecordedFailure(db(), 'doubling', 'sha256:doubling', MESSAGE, {
      nodeOptions: ['--max-old-space-size=256'],
      killAfterMs: 120_000,
    });
    expect(run.stderr).not.toMatch(/heap out of memory|Invalid string length/);
  }, 150_000);

  it('is refused at the first join too long, whichever chain and however many: the normalizer stays small and quick', () => {
    const doc = JSON.parse(doublingChain(40, 50));
    const { result: r, steps } = stepsOf(() => csafVexNormalizer.normalize(doc, { digest: 'sha256:doubling', retrievedAt: new Date(0) }));
    expect(r.isErr() && r.error.code).toBe('DOCUMENT_INVALID');
    expect(r.isErr() && r.error.message).toBe(MESSAGE.replace('R0-23', 'R0-40'));
    // Counted, not timed: in proportion to the 2,000 relationships, not to the keys' lengths or the 2^40 paths they double through.
    expect(steps).toBeLessThan(100 * 2_000);
  });
});
