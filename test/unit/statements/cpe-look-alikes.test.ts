/**
 * CPEs were compared as exact text, so a document naming one platform by a
 * CPE 2.3 formatted string in one place and by another spelling of it in
 * another (capitals, a quoted or unquoted `.`, the CPE 2.2 URI form) could
 * give it opposite statuses, stored as two products. The CPE 2.3 naming
 * specification (NISTIR 7695) reads both forms into one well-formed name,
 * and its name matching (NISTIR 7696) compares values case-insensitively:
 * such spellings are now one product key within a document, as two
 * spellings of one purl are. Names the specifications tell apart (another
 * version, NA against ANY) stay two, and patterns with wildcards are left
 * as text. (CSAF claims about two spellings that disagree are in
 * purl-look-alikes.test.ts.)
 */
import { describe, expect, it } from 'vitest';
import { cpeIdentity } from '../../../src/statements/normalizers/cpe.js';
import { openVexNormalizer } from '../../../src/statements/normalizers/openvex.js';
import { productIdentity } from '../../../src/statements/normalizers/purl.js';

const ctx = { digest: 'sha256:cpe', retrievedAt: new Date('2026-01-01T00:00:00Z') };

const CANONICAL = 'cpe:2.3:o:redhat:enterprise_linux:8.6:*:*:*:*:*:*:*';
/** Spellings of {@link CANONICAL} that NISTIR 7695 and 7696 read as one name. */
const LOOK_ALIKES = [
  'CPE:2.3:O:RedHat:Enterprise_Linux:8.6:*:*:*:*:*:*:*',
  'cpe:2.3:o:redhat:enterprise_linux:8\\.6:*:*:*:*:*:*:*',
  'cpe:/o:redhat:enterprise_linux:8.6',
  'cpe:/o:redhat:enterprise_linux:8.6::',
  'cpe:/O:RedHat:Enterprise_Linux:8.6',
  'cpe:/o:redhat:enterprise_linux:8.6:::',
];

describe('cpeIdentity', () => {
  it.for(LOOK_ALIKES)('%s is the name the formatted string names', (spelling) => {
    expect(cpeIdentity(spelling)).toBe(cpeIdentity(CANONICAL));
  });

  it('reads a plain formatted string as its quoted spelling', () => {
    expect(cpeIdentity('cpe:2.3:a:acme:my-tool_x:1.0-beta.2:-:*:*:*:*:x64:*')).toBe(
      cpeIdentity('cpe:2.3:a:acme:my\\-tool_x:1\\.0\\-beta\\.2:-:*:*:*:*:x64:*'),
    );
    expect(cpeIdentity('cpe:2.3:a:acme:tool:1.0:*:*:*:*:*:*:*')).toBe('cpe:2.3:a:acme:tool:1\\.0:*:*:*:*:*:*:*');
  });

  it('reads percent-encoding and packed editions of a 2.2 URI as the formatted string quotes them', () => {
    expect(cpeIdentity('cpe:/a:hp:insight_diagnostics:7.4.0.1570:-:~~online~win2003~x64~')).toBe(
      cpeIdentity('cpe:2.3:a:hp:insight_diagnostics:7.4.0.1570:-:*:*:online:win2003:x64:*'),
    );
    expect(cpeIdentity('cpe:/a:foo%5cbar:big%24money_manager_2010')).toBe(
      cpeIdentity('cpe:2.3:a:foo\\\\bar:big\\$money_manager_2010:*:*:*:*:*:*:*:*'),
    );
  });

  it.for([
    [CANONICAL, 'cpe:2.3:o:redhat:enterprise_linux:8.7:*:*:*:*:*:*:*'],
    [CANONICAL, 'cpe:2.3:o:redhat:enterprise_linux:8.6:-:*:*:*:*:*:*'],
    ['cpe:/o:redhat:enterprise_linux:8.6:-', 'cpe:/o:redhat:enterprise_linux:8.6'],
  ] as const)('%s and %s stay two names', ([a, b]) => {
    expect(cpeIdentity(a)).not.toBe(cpeIdentity(b));
  });

  it('leaves patterns, malformed CPEs and other text as they are', () => {
    for (const key of [
      'cpe:2.3:o:redhat:enterprise_linux:8.*:*:*:*:*:*:*:*',
      'cpe:2.3:o:redhat:enterprise_linux:8.6:*:*:*:*:*:*',
      'cpe:2.3:o:redhat::8.6:*:*:*:*:*:*:*',
      'cpe:/o:redhat:enterprise_linux:8.6%02',
      'cpe:/o:redhat:enterprise_linux:8.6:a:b:c:d',
      'cpe:2.3:a:x:y:1\\:*:*:*:*:*:*:*',
      'CSAFPID-1',
    ]) {
      expect(cpeIdentity(key)).toBe(key);
    }
  });

  it('compares a 2.2 URI with empty components whole, and each CPE of a joined key', () => {
    expect(productIdentity('cpe:/a::Reader:9.3.2')).toBe(productIdentity('cpe:2.3:a:*:reader:9.3.2:*:*:*:*:*:*:*'));
    expect(productIdentity(`${LOOK_ALIKES[2]}::pkg:rpm/a@1`)).toBe(productIdentity(`${CANONICAL}::PKG:rpm/a@1`));
  });
});

describe('two spellings of one CPE within a document', () => {
  /** A product named by `identifiers`, with one subcomponent. */
  const joined = (identifiers: Record<string, string>) => ({ identifiers, subcomponents: [{ '@id': 'pkg:rpm/acme/openssl@3' }] });
  it.for([
    ['a product', { '@id': LOOK_ALIKES[0] }, { identifiers: { cpe22: LOOK_ALIKES[2] } }, LOOK_ALIKES[2]],
    [
      'a subcomponent of a product whose 2.2 URI holds ::',
      joined({ cpe22: 'cpe:/o:acme:os:8::GW-1' }),
      joined({ cpe23: 'cpe:2.3:o:acme:os:8:*:gw-1:*:*:*:*:*' }),
      'cpe:2.3:o:acme:os:8:*:gw-1:*:*:*:*:*::pkg:rpm/acme/openssl@3',
    ],
  ] as const)('OpenVEX: a later statement about %s overrides an earlier one under either spelling', ([, first, second, key]) => {
    const statement = (product: unknown, status: string, timestamp: string) => ({
      vulnerability: { name: 'CVE-2026-9' },
      products: [product],
      status,
      ...(status === 'not_affected' ? { justification: 'component_not_present' } : {}),
      timestamp,
    });
    const doc = {
      '@context': 'https://openvex.dev/ns/v0.2.0',
      '@id': 'urn:doc',
      author: 'a',
      timestamp: '2026-01-01T00:00:00Z',
      version: 1,
      statements: [statement(first, 'affected', '2026-01-01T00:00:00Z'), statement(second, 'not_affected', '2026-01-02T00:00:00Z')],
    };
    const claims = openVexNormalizer.normalize(doc, ctx)._unsafeUnwrap();
    expect(claims.map((c) => `${c.productKey}|${c.status}`)).toEqual([`${key}|not_affected`]);
  });
});
