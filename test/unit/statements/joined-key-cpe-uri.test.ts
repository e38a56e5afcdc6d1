/**
 * A CSAF relationship without a helper is keyed `platform::component`, and
 * an OpenVEX subcomponent `product::subcomponent`; a CPE 2.2 URI with an
 * empty component (`cpe:/o:acme:os:8::gw-1`, no update) holds `::` itself.
 * Comparing such a key by splitting it at every `::` read the URI's
 * edition as a product of its own: the platform under its 2.3 spelling
 * was another product, and a join of three products could pass for a
 * join of the URI and one. Claims are compared by the products they join;
 * the keys are stored as they were. (OpenVEX subcomponents of such a
 * product are in cpe-look-alikes.test.ts.)
 */
import { describe, expect, it } from 'vitest';
import { csafVexNormalizer } from '../../../src/statements/normalizers/csaf.js';

const ctx = { digest: 'sha256:join', retrievedAt: new Date('2026-01-01T00:00:00Z') };

const URI = 'cpe:/o:acme:os:8::GW-1';
/** {@link URI} as a CPE 2.3 formatted string: the edition `gw-1`, the update ANY. */
const FORMATTED = 'cpe:2.3:o:acme:os:8:*:gw-1:*:*:*:*:*';
const COMPONENT = 'pkg:rpm/acme/openssl@3';

const product = (id: string, helper?: Record<string, string>) => ({
  product_id: id,
  name: id,
  ...(helper === undefined ? {} : { product_identification_helper: helper }),
});
const relationship = (id: string, component: string, platform: string) => ({
  category: 'default_component_of',
  product_reference: component,
  relates_to_product_reference: platform,
  full_product_name: product(id),
});

/** A CSAF document with `products` and `relationships`, giving `affected` one status and `fixed` another. */
const csaf = (products: unknown[], relationships: unknown[], affected: string, fixed: string): unknown => ({
  document: { csaf_version: '2.0', category: 'csaf_vex' },
  product_tree: { full_product_names: products, relationships },
  vulnerabilities: [{ cve: 'CVE-2026-0001', product_status: { known_affected: [affected], fixed: [fixed] } }],
});

describe('a joined key whose platform is a CPE 2.2 URI holding `::`', () => {
  it('CSAF: one component on two spellings of the platform is one product, so opposite statuses fail the document', () => {
    const doc = csaf(
      [product('OS-URI', { cpe: URI }), product('OS-23', { cpe: FORMATTED }), product('SSL', { purl: COMPONENT })],
      [relationship('SSL-ON-URI', 'SSL', 'OS-URI'), relationship('SSL-ON-23', 'SSL', 'OS-23')],
      'SSL-ON-URI',
      'SSL-ON-23',
    );
    const r = csafVexNormalizer.normalize(doc, ctx);
    expect(r.isErr() && r.error.code).toBe('DOCUMENT_INVALID');
    expect(r.isErr() && r.error.message).toContain(`for "${URI}::${COMPONENT}", the same CPE`);
  });

  it('CSAF: a join of three products whose key reads as the URI joined with one is compared as that one, its key holding one claim', () => {
    // `cpe:/o:acme:os:8` with `GW-1` (a product without a helper), that joined with the component: its key is the other's too.
    const products = [
      product('OS-URI', { cpe: URI }),
      product('OS-8', { cpe: 'cpe:/o:acme:os:8' }),
      product('GW-1'),
      product('SSL', { purl: COMPONENT }),
    ];
    const relationships = [
      relationship('SSL-ON-URI', 'SSL', 'OS-URI'),
      relationship('GW-ON-8', 'GW-1', 'OS-8'),
      relationship('SSL-ON-GW', 'SSL', 'GW-ON-8'),
    ];
    const r = csafVexNormalizer.normalize(csaf(products, relationships, 'SSL-ON-URI', 'SSL-ON-GW'), ctx);
    expect(r.isErr() && r.error.code).toBe('DOCUMENT_INVALID');
    expect(r.isErr() && r.error.message).toContain(`(product "SSL-ON-GW") gives status "fixed"`);
  });
});
