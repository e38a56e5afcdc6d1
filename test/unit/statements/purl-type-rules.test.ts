/**
 * The purl type definitions say, type by type, which parts of a package URL
 * are not case sensitive (and must be written in one case) or normalized.
 * Only github, bitbucket and pypi were read so: `pkg:deb/debian/Curl` and
 * `pkg:deb/debian/curl` were two products, so a document giving them
 * opposite statuses stored both instead of failing. Each type's rule is
 * checked here both ways: the spellings it makes one package are one, and
 * the parts it keeps case sensitive stay apart.
 */
import { describe, expect, it } from 'vitest';
import { csafVexNormalizer } from '../../../src/statements/normalizers/csaf.js';
import { purlIdentity } from '../../../src/statements/normalizers/purl.js';

/** Two spellings of one package, per the type's definition. */
const SAME: readonly (readonly [string, string])[] = [
  ['pkg:alpm/Arch/Pacman@6.0.1-1?arch=x86_64', 'pkg:alpm/arch/pacman@6.0.1-1?arch=x86_64'],
  ['pkg:apk/Alpine/CURL@7.83.0-r0', 'pkg:apk/alpine/curl@7.83.0-r0'],
  ['pkg:bitbucket/Birkenfeld/Pygments-Main@244fd47', 'pkg:bitbucket/birkenfeld/pygments-main@244fd47'],
  ['pkg:bitnami/WordPress@6.2.0?distro=debian-12', 'pkg:bitnami/wordpress@6.2.0?distro=debian-12'],
  ['pkg:composer/Laravel/Laravel@5.5.0', 'pkg:composer/laravel/laravel@5.5.0'],
  ['pkg:cpan/drolsky/DateTime@1.55', 'pkg:cpan/DROLSKY/DateTime@1.55'],
  ['pkg:deb/Debian/Curl@7.50.3-1?arch=i386', 'pkg:deb/debian/curl@7.50.3-1?arch=i386'],
  ['pkg:github/Package-URL/Purl-Spec@244fd47', 'pkg:github/package-url/purl-spec@244fd47'],
  ['pkg:hex/Acme/Foo@2.3.0', 'pkg:hex/acme/foo@2.3.0'],
  ['pkg:huggingface/microsoft/deberta-v3-base@559062AD13D311B8', 'pkg:huggingface/microsoft/deberta-v3-base@559062ad13d311b8'],
  ['pkg:luarocks/Hisham/LuaFileSystem@1.8.0-1', 'pkg:luarocks/hisham/luafilesystem@1.8.0-1'],
  ['pkg:oci/Debian@sha256%3A244fd47e07d10?tag=latest', 'pkg:oci/debian@sha256%3A244fd47e07d10?tag=latest'],
  ['pkg:pub/Characters@1.2.0', 'pkg:pub/characters@1.2.0'],
  ['pkg:pypi/Django_Allauth@12.23', 'pkg:pypi/django-allauth@12.23'],
  ['pkg:qpkg/BlackBerry/com.qnx.sdp@7.0.0', 'pkg:qpkg/blackberry/com.qnx.sdp@7.0.0'],
  ['pkg:rpm/Fedora/curl@7.50.3-1.fc25', 'pkg:rpm/fedora/curl@7.50.3-1.fc25'],
];

/** Two packages: the parts the definitions keep case sensitive (or do not normalize), and types with no rule. */
const APART: readonly (readonly [string, string])[] = [
  ['pkg:rpm/fedora/Curl@7.50.3-1.fc25', 'pkg:rpm/fedora/curl@7.50.3-1.fc25'],
  ['pkg:huggingface/Microsoft/deberta-v3-base@559062ad', 'pkg:huggingface/microsoft/deberta-v3-base@559062ad'],
  ['pkg:huggingface/microsoft/DeBERTa-v3-base@559062ad', 'pkg:huggingface/microsoft/deberta-v3-base@559062ad'],
  ['pkg:cpan/DROLSKY/Datetime@1.55', 'pkg:cpan/DROLSKY/DateTime@1.55'],
  ['pkg:qpkg/blackberry/com.qnx.SDP@7.0.0', 'pkg:qpkg/blackberry/com.qnx.sdp@7.0.0'],
  ['pkg:deb/debian/curl@7.50.3-1?arch=I386', 'pkg:deb/debian/curl@7.50.3-1?arch=i386'],
  ['pkg:github/package-url/purl-spec@ABC', 'pkg:github/package-url/purl-spec@abc'],
  ['pkg:pypi/django@1.11.1?filename=Django-1.11.1.whl', 'pkg:pypi/django@1.11.1?filename=django-1.11.1.whl'],
  ['pkg:pub/flutter_test@1.0.0', 'pkg:pub/flutter-test@1.0.0'],
  ['pkg:npm/JSONStream@1.3.5', 'pkg:npm/jsonstream@1.3.5'],
  ['pkg:golang/github.com/Sirupsen/logrus@v1.0.0', 'pkg:golang/github.com/sirupsen/logrus@v1.0.0'],
  ['pkg:maven/org.Apache/Commons@1', 'pkg:maven/org.apache/commons@1'],
  ['pkg:cran/A3@1.0.0', 'pkg:cran/a3@1.0.0'],
];

describe('purlIdentity and the purl type definitions', () => {
  it.for(SAME)('%s is the package %s names', ([a, b]) => {
    expect(purlIdentity(a)).toBe(purlIdentity(b));
    // The same through the full reading (an encoded character, another order of qualifiers): one rule, both paths.
    expect(purlIdentity(`${a.replace('pkg:', 'PKG:')}`)).toBe(purlIdentity(b));
  });

  it.for(APART)('%s and %s stay two packages', ([a, b]) => {
    expect(purlIdentity(a)).not.toBe(purlIdentity(b));
    expect(purlIdentity(a.replace('pkg:', 'PKG:'))).not.toBe(purlIdentity(b));
  });
});

describe('csafVexNormalizer and one package in two cases its type does not tell apart', () => {
  const ctx = { digest: 'sha256:types', retrievedAt: new Date('2026-01-01T00:00:00Z') };
  const csaf = (first: string, second: string): unknown => ({
    document: { csaf_version: '2.0', category: 'csaf_vex' },
    product_tree: {
      full_product_names: [
        { product_id: 'A', name: 'a', product_identification_helper: { purl: first } },
        { product_id: 'B', name: 'b', product_identification_helper: { purl: second } },
      ],
    },
    vulnerabilities: [{ cve: 'CVE-2026-0042', product_status: { known_not_affected: ['A'], known_affected: ['B'] } }],
  });

  it('fails the document instead of storing two products with opposite statuses', () => {
    const r = csafVexNormalizer.normalize(csaf('pkg:deb/debian/Curl@7.50.3-1', 'pkg:deb/debian/curl@7.50.3-1'), ctx);
    expect(r.isErr() && r.error.message).toContain(
      'gives status "affected" for vulnerability "CVE-2026-0042" and product "pkg:deb/debian/curl@7.50.3-1", which vulnerabilities[0].product_status.known_not_affected[0] gives "not_affected" for "pkg:deb/debian/Curl@7.50.3-1", the same package URL',
    );
  });

  it('keeps two rpm packages whose names differ in case', () => {
    const r = csafVexNormalizer.normalize(csaf('pkg:rpm/fedora/Curl@1', 'pkg:rpm/fedora/curl@1'), ctx);
    expect(r._unsafeUnwrap().map((c) => [c.productKey, c.status])).toEqual([
      ['pkg:rpm/fedora/Curl@1', 'not_affected'],
      ['pkg:rpm/fedora/curl@1', 'affected'],
    ]);
  });
});
