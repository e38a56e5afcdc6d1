/**
 * A document that names one package by two spellings of its package URL
 * (the scheme or type in capitals, `pkg://`, a trailing slash, qualifiers
 * in another order, an empty qualifier, a percent-encoded letter) is about
 * one product: CSAF and CycloneDX claims that disagree about it fail the
 * document naming both places, as they do for one spelling, instead of
 * being stored as two products with opposite statuses (a later OpenVEX
 * statement overriding an earlier one under either spelling is in
 * contradicting-claims.test.ts). Two packages
 * the specification tells apart (npm names in another case, another
 * qualifier value) stay two.
 */
import { describe, expect, it } from 'vitest';
import { csafVexNormalizer } from '../../../src/statements/normalizers/csaf.js';
import { cycloneDxVexNormalizer } from '../../../src/statements/normalizers/cyclonedx.js';
import { productIdentity, purlIdentity } from '../../../src/statements/normalizers/purl.js';

const ctx = { digest: 'sha256:alike', retrievedAt: new Date('2026-01-01T00:00:00Z') };

/** Spellings of `pkg:deb/debian/curl@7.50.3-1?arch=i386&distro=jessie`, which the purl specification reads as one package. */
const LOOK_ALIKES = [
  'PKG:DEB/debian/curl@7.50.3-1?arch=i386&distro=jessie',
  'pkg://deb/debian/curl@7.50.3-1?arch=i386&distro=jessie',
  'pkg:deb/debian/curl@7.50.3-1/?arch=i386&distro=jessie',
  'pkg:deb/debian/curl@7.50.3-1?distro=jessie&ARCH=i386',
  'pkg:deb/debian/curl@7.50.3-1?arch=i386&distro=jessie&repository_url=',
  'pkg:deb/debian/%63url@7.50.3-1?arch=i386&distro=jessie',
];
const CANONICAL = 'pkg:deb/debian/curl@7.50.3-1?arch=i386&distro=jessie';

describe('purlIdentity', () => {
  it.for(LOOK_ALIKES)(`%s is the package ${CANONICAL} names`, (spelling) => {
    expect(purlIdentity(spelling)).toBe(purlIdentity(CANONICAL));
  });

  it.for([
    ['pkg:npm/Foo@1', 'pkg:npm/foo@1'],
    ['pkg:deb/debian/curl@7.50.3-1?arch=amd64', 'pkg:deb/debian/curl@7.50.3-1?arch=i386'],
    ['pkg:npm/foo@1', 'pkg:npm/foo@2'],
    ['pkg:npm/foo@1#a', 'pkg:npm/foo@1#b'],
  ] as const)('%s and %s stay two packages', ([a, b]) => {
    expect(purlIdentity(a)).not.toBe(purlIdentity(b));
  });

  it.for([
    ['pkg:maven/org.example/lib@1.0+build.7', 'PKG:maven/org.example/lib@1.0+build.7'],
    ['pkg:generic/openssl@3.0:rc1', 'pkg:Generic/openssl@3.0:rc1'],
    ["pkg:npm/it's@1", "pkg:NPM/it's@1"],
    ['pkg:pypi/Django_Filter@2.0_RC1', 'PKG:pypi/django-filter@2.0_RC1'],
    ['pkg:github/Package-URL/Purl-Spec@V1.0', 'PKG:github/package-url/purl-spec@V1.0'],
  ] as const)('%s, already in one form, is the package %s names', ([plain, spelling]) => {
    expect(purlIdentity(spelling)).toBe(purlIdentity(plain));
  });

  it('reads github and pypi names in any case, and pypi _ as -', () => {
    expect(purlIdentity('pkg:github/Package-URL/Purl-Spec@1')).toBe(purlIdentity('pkg:github/package-url/purl-spec@1'));
    expect(purlIdentity('pkg:pypi/Django_Filter@2')).toBe(purlIdentity('pkg:pypi/django-filter@2'));
  });

  it('leaves text that is no package URL, or a malformed one, as it is', () => {
    for (const key of ['cpe:2.3:a:x:y:1:*:*:*:*:*:*:*', 'CSAFPID-1', 'pkg:npm', 'pkg:npm/foo%ZZ@1']) expect(purlIdentity(key)).toBe(key);
  });

  it('compares each package URL of a joined key', () => {
    expect(productIdentity('PKG:rpm/a@1::pkg:rpm/b@2/')).toBe(productIdentity('pkg:rpm/a@1::pkg:rpm/b@2'));
  });
});

describe('cycloneDxVexNormalizer and two spellings of one purl', () => {
  const bom = (purl: string, second: string): unknown => ({
    bomFormat: 'CycloneDX',
    specVersion: '1.6',
    components: [
      { type: 'library', 'bom-ref': 'a', name: 'curl', purl: CANONICAL },
      { type: 'library', 'bom-ref': 'b', name: 'curl', purl },
    ],
    vulnerabilities: [
      { id: 'CVE-2026-9', analysis: { state: 'not_affected', justification: 'code_not_present' }, affects: [{ ref: 'a' }] },
      { id: 'CVE-2026-9', analysis: { state: second }, affects: [{ ref: 'b' }] },
    ],
  });

  it.for(LOOK_ALIKES)('disagreeing about %s fails the document, naming both places and spellings', (purl) => {
    const r = cycloneDxVexNormalizer.normalize(bom(purl, 'exploitable'), ctx);
    expect(r.isErr() && r.error.code).toBe('DOCUMENT_INVALID');
    expect(r.isErr() && r.error.message).toBe(
      `CycloneDX document sha256:alike: vulnerabilities[1].affects[0] gives status "affected" for vulnerability "CVE-2026-9" and product ${JSON.stringify(purl)}, which vulnerabilities[0].affects[0] gives "not_affected" for ${JSON.stringify(CANONICAL)}, the same package URL: a component has one analysis per vulnerability; merge the two entries or drop one`,
    );
  });

  it('agreeing, keeps one claim under the first spelling', () => {
    const doc = bom(LOOK_ALIKES[0]!, 'not_affected') as { vulnerabilities: { analysis: object }[] };
    doc.vulnerabilities[1]!.analysis = { state: 'not_affected', justification: 'code_not_present' };
    expect(
      cycloneDxVexNormalizer
        .normalize(doc, ctx)
        ._unsafeUnwrap()
        .map((c) => `${c.productKey}|${c.status}`),
    ).toEqual([`${CANONICAL}|not_affected`]);
  });

  it('reads no version in a scope written with an unencoded @ (pkg:npm/@scope/name), as in its %40 spelling', () => {
    // Without a version of its own, the component takes the one status all entries share, whichever spelling its purl has.
    const scoped = (...purls: string[]): unknown => ({
      bomFormat: 'CycloneDX',
      specVersion: '1.6',
      components: purls.map((purl, i) => ({ type: 'library', 'bom-ref': `c${i}`, name: 'core', purl })),
      vulnerabilities: [
        {
          id: 'CVE-2026-10',
          analysis: { state: 'exploitable' },
          affects: purls.map((_, i) => ({ ref: `c${i}`, versions: [{ range: 'vers:npm/>=1.0.0|<2.0.0', status: 'affected' }] })),
        },
      ],
    });
    const claims = (doc: unknown): string[] =>
      cycloneDxVexNormalizer
        .normalize(doc, ctx)
        ._unsafeUnwrap()
        .map((c) => `${c.productKey}|${c.status}`);
    expect(claims(scoped('pkg:npm/@angular/core'))).toEqual(['pkg:npm/@angular/core|affected']);
    expect(claims(scoped('pkg:npm/@angular/core/'))).toEqual(['pkg:npm/@angular/core/|affected']);
    expect(claims(scoped('pkg:npm/%40angular/core', 'pkg:npm/@angular/core'))).toEqual(['pkg:npm/%40angular/core|affected']);
    // A version after the scope is still read.
    expect(claims(scoped('pkg:npm/@angular/core@2.1.0'))).toEqual(['pkg:npm/@angular/core@2.1.0|under_investigation']);
  });

  it('two packages npm tells apart by case keep their own claims', () => {
    const doc = bom('pkg:npm/Curl@1', 'exploitable') as { components: { purl: string }[] };
    doc.components[0]!.purl = 'pkg:npm/curl@1';
    expect(
      cycloneDxVexNormalizer
        .normalize(doc, ctx)
        ._unsafeUnwrap()
        .map((c) => `${c.productKey}|${c.status}`),
    ).toEqual(['pkg:npm/curl@1|not_affected', 'pkg:npm/Curl@1|affected']);
  });
});

describe('csafVexNormalizer and two product ids whose purls or CPEs are spellings of one', () => {
  it.for([
    { helper: 'purl', first: CANONICAL, second: LOOK_ALIKES[3] as string, same: 'package URL' },
    // CPE spellings are in cpe-look-alikes.test.ts.
    {
      helper: 'cpe',
      first: 'cpe:2.3:o:redhat:enterprise_linux:8.6:*:*:*:*:*:*:*',
      second: 'cpe:/O:RedHat:Enterprise_Linux:8.6',
      same: 'CPE',
    },
  ])('fails the document when their statuses differ: $helper', ({ helper, first, second, same }) => {
    const doc = {
      document: { csaf_version: '2.0', category: 'csaf_vex' },
      product_tree: {
        full_product_names: [
          { product_id: 'A', name: 'a', product_identification_helper: { [helper]: first } },
          { product_id: 'B', name: 'b', product_identification_helper: { [helper]: second } },
        ],
      },
      vulnerabilities: [{ cve: 'CVE-2026-0009', product_status: { known_not_affected: ['A'], known_affected: ['B'] } }],
    };
    const r = csafVexNormalizer.normalize(doc, ctx);
    expect(r.isErr() && r.error.code).toBe('DOCUMENT_INVALID');
    expect(r.isErr() && r.error.message).toContain(
      `vulnerabilities[0].product_status.known_affected[0] (product "B") gives status "affected" for vulnerability "CVE-2026-0009" and product ${JSON.stringify(second)}, which vulnerabilities[0].product_status.known_not_affected[0] gives "not_affected" for ${JSON.stringify(first)}, the same ${same}`,
    );
  });
});
