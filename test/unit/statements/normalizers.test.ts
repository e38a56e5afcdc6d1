import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { csafVexNormalizer } from '../../../src/statements/normalizers/csaf.js';
import { cycloneDxVexNormalizer } from '../../../src/statements/normalizers/cyclonedx.js';
import { openVexNormalizer } from '../../../src/statements/normalizers/openvex.js';
import { detectVexFormat } from '../../../src/statements/detect.js';
import type { VexClaim, VexNormalizer } from '../../../src/statements/ports.js';

const fixture = (name: string): unknown => JSON.parse(readFileSync(new URL(`../../fixtures/vex/${name}`, import.meta.url), 'utf8'));
const ctx = { digest: 'sha256:fixture', retrievedAt: new Date('2025-10-01T00:00:00Z') };

function claims(n: VexNormalizer, doc: unknown): VexClaim[] {
  const r = n.normalize(doc, ctx);
  if (r.isErr()) throw r.error;
  return [...r.value];
}
const brief = (c: VexClaim): string => [c.vulnerabilityId, c.productKey, c.status, c.justification ?? '-'].join(' | ');

describe('detectVexFormat', () => {
  it('recognises each fixture by content', () => {
    expect(detectVexFormat(fixture('openvex/not-affected-0.2.0.json'))).toBe('openvex');
    expect(detectVexFormat(fixture('csaf/vex-branches.json'))).toBe('csaf');
    expect(detectVexFormat(fixture('cyclonedx/vex-1.6-bom-link.json'))).toBe('cyclonedx');
    expect(detectVexFormat({ spdxVersion: 'SPDX-2.3' })).toBeUndefined();
    expect(detectVexFormat([1, 2])).toBeUndefined();
    expect(detectVexFormat('{"bomFormat":"CycloneDX"}')).toBeUndefined();
  });
});

describe('openVexNormalizer', () => {
  it('maps products[].@id, justification, impact statement and the document timestamp', () => {
    expect(claims(openVexNormalizer, fixture('openvex/not-affected-0.2.0.json'))).toEqual([
      {
        vulnerabilityId: 'CVE-2024-11111',
        productKey: 'pkg:npm/%40stella/report-renderer@3.4.1',
        status: 'not_affected',
        justification: 'vulnerable_code_not_in_execute_path',
        statement: 'The renderer never passes user input to the templating helper.',
        issuedAt: '2025-09-02T10:15:00.000Z',
        documentDigest: 'sha256:fixture',
        format: 'openvex',
      },
    ]);
  });

  it('expands subcomponents as product::subcomponent and honours statement timestamps', () => {
    const out = claims(openVexNormalizer, fixture('openvex/subcomponents-0.2.0.json'));
    const image =
      'pkg:oci/scanner-worker@sha256%3Aab12cd34ef56ab12cd34ef56ab12cd34ef56ab12cd34ef56ab12cd34ef56ab12?repository_url=registry.example.com%2Fstella';
    expect(out.map(brief)).toEqual([
      `CVE-2024-22222 | ${image}::pkg:apk/wolfi/openssl@3.3.1-r0?arch=x86_64 | affected | -`,
      `CVE-2024-22222 | ${image}::pkg:apk/wolfi/libcrypto3@3.3.1-r0?arch=x86_64 | affected | -`,
      'CVE-2024-33333 | pkg:golang/example.com/stella/notify@v1.8.0 | fixed | -',
      'CVE-2024-33333 | cpe:2.3:a:example:notify:1.8.0:*:*:*:*:*:*:* | fixed | -',
      'CVE-2025-44444 | pkg:golang/example.com/stella/notify@v1.8.0 | under_investigation | -',
    ]);
    expect(out[0]?.issuedAt).toBe('2025-09-01T12:00:00.000Z');
    expect(out[0]?.statement).toBe('Upgrade the worker image to 2025.09.2 or later.');
    expect(out[2]?.issuedAt).toBe('2025-09-03T08:00:00.000Z');
    expect(out[4]?.statement).toBe('Triage is scheduled for the next sprint.');
  });

  it('accepts the pre-0.2 string forms of vulnerability and products', () => {
    const doc = {
      '@context': 'https://openvex.dev/ns',
      statements: [{ vulnerability: 'CVE-2023-1', products: ['pkg:deb/debian/curl@8.0'], status: 'fixed' }],
    };
    expect(claims(openVexNormalizer, doc).map(brief)).toEqual(['CVE-2023-1 | pkg:deb/debian/curl@8.0 | fixed | -']);
  });

  it('keeps the latest statement about a vulnerability and product: by timestamp, then by place in the document', () => {
    const statement = (status: string, timestamp?: string) => ({
      vulnerability: { name: 'CVE-2024-7' },
      products: [{ '@id': 'pkg:oci/api@sha256:aa' }],
      status,
      ...(timestamp === undefined ? {} : { timestamp }),
    });
    const doc = (...statements: object[]) => ({
      '@context': 'https://openvex.dev/ns/v0.2.0',
      timestamp: '2024-01-01T00:00:00Z',
      statements: [...statements, { vulnerability: 'CVE-2024-8', products: ['pkg:oci/api@sha256:aa'], status: 'fixed' }],
    });
    const statuses = (d: object) => claims(openVexNormalizer, d).map(brief);
    // Triage, then the verdict: the verdict is the product's claim.
    expect(
      statuses(doc(statement('under_investigation', '2024-03-01T00:00:00Z'), statement('not_affected', '2024-03-02T00:00:00Z'))),
    ).toEqual(['CVE-2024-7 | pkg:oci/api@sha256:aa | not_affected | -', 'CVE-2024-8 | pkg:oci/api@sha256:aa | fixed | -']);
    // Listed out of order: the later timestamp still wins (an offset is compared as the instant it is).
    expect(statuses(doc(statement('affected', '2024-03-02T01:00:00+02:00'), statement('fixed', '2024-03-01T20:00:00-05:00')))[0]).toBe(
      'CVE-2024-7 | pkg:oci/api@sha256:aa | fixed | -',
    );
    // Within one millisecond, the finer fraction still orders them.
    expect(statuses(doc(statement('fixed', '2024-03-01T00:00:00.000900Z'), statement('affected', '2024-03-01T00:00:00.0001Z')))[0]).toBe(
      'CVE-2024-7 | pkg:oci/api@sha256:aa | fixed | -',
    );
    // Same time, or both taking the document's: the later in the document.
    expect(statuses(doc(statement('affected'), statement('fixed')))[0]).toBe('CVE-2024-7 | pkg:oci/api@sha256:aa | fixed | -');
  });

  it.each([
    ['an unknown status', { status: 'maybe' }, 'statements[0].status'],
    ['no products', { products: [] }, 'statements[0].products'],
    ['no vulnerability name', { vulnerability: {} }, 'statements[0].vulnerability.name'],
    ['a product without an id', { products: [{ hashes: {} }] }, 'statements[0].products[0]'],
  ])('rejects %s with DOCUMENT_INVALID naming the field', (_what, patch, field) => {
    const doc = {
      '@context': 'https://openvex.dev/ns/v0.2.0',
      statements: [{ vulnerability: { name: 'CVE-1' }, products: [{ '@id': 'pkg:x/y@1' }], status: 'fixed', ...patch }],
    };
    const r = openVexNormalizer.normalize(doc, ctx);
    expect(r.isErr() && r.error.code).toBe('DOCUMENT_INVALID');
    expect(r.isErr() && r.error.message).toContain(field);
    expect(r.isErr() && r.error.context.digest).toBe('sha256:fixture');
  });
});

describe('csafVexNormalizer', () => {
  it('resolves branches to purl / CPE / product_id and takes flags, threats and remediations', () => {
    const out = claims(csafVexNormalizer, fixture('csaf/vex-branches.json'));
    expect(out.map(brief)).toEqual([
      'CVE-2024-11111 | pkg:npm/%40stella/report-renderer@3.4.1 | not_affected | vulnerable_code_not_in_execute_path',
      'CVE-2024-11111 | cpe:2.3:a:stella_fixture:gateway:5.0:*:*:*:*:*:*:* | affected | -',
      'CVE-2024-11111 | SFPID-0003 | fixed | -',
      'CVE-2025-44444 | cpe:2.3:a:stella_fixture:gateway:5.0:*:*:*:*:*:*:* | under_investigation | -',
      'CVE-2025-44444 | SFPID-0003 | under_investigation | -',
    ]);
    expect(out[0]?.statement).toBe('The renderer never passes user input to the helper.');
    expect(out[1]?.statement).toBe('Upgrade the gateway to 5.1.');
    expect(out.every((c) => c.issuedAt === '2025-09-05T09:30:00.000Z' && c.format === 'csaf')).toBe(true);
  });

  it('resolves relationships and product groups', () => {
    const out = claims(csafVexNormalizer, fixture('csaf/vex-relationships.json'));
    expect(out.map(brief)).toEqual([
      'CVE-2024-55555 | cpe:/o:stella_fixture:appliance:7::pkg:generic/libyaml-fixture@0.2.5 | not_affected | vulnerable_code_cannot_be_controlled_by_adversary',
      'CVE-2024-55555 | pkg:rpm/stella/libyaml-fixture@0.2.5-3.edge?arch=aarch64 | not_affected | vulnerable_code_cannot_be_controlled_by_adversary',
      'CVE-2024-55555 | pkg:generic/libyaml-fixture@0.2.5 | affected | -',
    ]);
    expect(out[0]?.statement).toBe('Both platforms only parse YAML they ship themselves.');
    expect(out[2]?.statement).toBe('Upgrade libyaml-fixture to 0.2.6.');
  });

  it('fails a parsed document whose branches loop (not possible from JSON text) instead of walking forever', () => {
    const doc = fixture('csaf/vex-branches.json') as { product_tree: { branches: unknown[] } };
    const looping = { name: 'loop', branches: [] as unknown[] };
    looping.branches.push(looping);
    doc.product_tree.branches.push(looping);
    const r = csafVexNormalizer.normalize(doc, ctx);
    expect(r.isErr() && r.error.code).toBe('DOCUMENT_INVALID');
    expect(r.isErr() && r.error.message).toBe('CSAF document sha256:fixture: product_tree.branches nest deeper than 100000 levels');
  });

  it('rejects a product id the product tree does not define', () => {
    const doc = fixture('csaf/vex-branches.json') as { vulnerabilities: { product_status: Record<string, string[]> }[] };
    doc.vulnerabilities[1]!.product_status['fixed'] = ['SFPID-9999'];
    const r = csafVexNormalizer.normalize(doc, ctx);
    expect(r.isErr() && r.error.code).toBe('DOCUMENT_INVALID');
    expect(r.isErr() && r.error.message).toContain('vulnerabilities[1].product_status.fixed[0]');
  });

  it('rejects a vulnerability with statuses but no cve or ids, and accepts ids[] instead of cve', () => {
    const base = {
      document: { csaf_version: '2.0', category: 'csaf_vex' },
      product_tree: { full_product_names: [{ name: 'P', product_id: 'P1' }] },
    };
    const bad = csafVexNormalizer.normalize({ ...base, vulnerabilities: [{ product_status: { fixed: ['P1'] } }] }, ctx);
    expect(bad.isErr() && bad.error.code).toBe('DOCUMENT_INVALID');
    const good = claims(csafVexNormalizer, {
      ...base,
      vulnerabilities: [{ ids: [{ system_name: 'GHSA', text: 'GHSA-x' }], product_status: { fixed: ['P1'] } }],
    });
    expect(good.map(brief)).toEqual(['GHSA-x | P1 | fixed | -']);
  });

  it('maps first/last_affected and first_fixed, ignores recommended, and keys a product with no helper by its product_id', () => {
    const doc = {
      document: { csaf_version: '2.0', category: 'csaf_vex', tracking: { current_release_date: '2025-01-02T03:04:05Z' } },
      product_tree: { full_product_names: ['A', 'B', 'C', 'D'].map((id) => ({ name: `P ${id}`, product_id: id })) },
      vulnerabilities: [
        { cve: 'CVE-2026-0001', product_status: { first_affected: ['A'], last_affected: ['B'], first_fixed: ['C'], recommended: ['D'] } },
      ],
    };
    expect(claims(csafVexNormalizer, doc).map(brief)).toEqual([
      'CVE-2026-0001 | A | affected | -',
      'CVE-2026-0001 | B | affected | -',
      'CVE-2026-0001 | C | fixed | -',
    ]);
  });

  it('does not loop on relationships that reference each other', () => {
    const doc = {
      document: { csaf_version: '2.0', category: 'csaf_vex' },
      product_tree: {
        relationships: [
          {
            category: 'default_component_of',
            product_reference: 'B',
            relates_to_product_reference: 'B',
            full_product_name: { name: 'A', product_id: 'A' },
          },
          {
            category: 'default_component_of',
            product_reference: 'A',
            relates_to_product_reference: 'A',
            full_product_name: { name: 'B', product_id: 'B' },
          },
        ],
      },
      vulnerabilities: [{ cve: 'CVE-2026-0001', product_status: { fixed: ['A'] } }],
    };
    const r = csafVexNormalizer.normalize(doc, ctx);
    expect(r.isErr() && r.error.code).toBe('DOCUMENT_INVALID');
  });
});

describe('cycloneDxVexNormalizer', () => {
  it('1.4: resolves refs to purl or CPE, keeps a repeated ref once, skips unanalysed vulnerabilities', () => {
    const out = claims(cycloneDxVexNormalizer, fixture('cyclonedx/vex-1.4.json'));
    expect(out.map(brief)).toEqual([
      'CVE-2024-66666 | pkg:maven/com.fasterxml.jackson.core/jackson-databind@2.15.2 | not_affected | code_not_reachable',
      'CVE-2024-77777 | cpe:2.3:a:zlib:zlib:1.2.13:*:*:*:*:*:*:* | affected | -',
      'CVE-2024-77777 | pkg:maven/com.example.stella/gateway@5.0.0 | affected | -',
      'CVE-2023-88888 | pkg:maven/com.example.stella/gateway@5.0.0 | fixed | -',
    ]);
    expect(out[0]?.statement).toBe('The gateway never deserializes polymorphic types.');
    expect(out[0]?.issuedAt).toBe('2025-09-06T00:00:00.000Z');
    expect(out[3]?.issuedAt).toBe('2025-08-15T00:00:00.000Z');
  });

  it('1.5: resolves nested components and maps every analysis state', () => {
    const out = claims(cycloneDxVexNormalizer, fixture('cyclonedx/vex-1.5-nested.json'));
    expect(out.map(brief)).toEqual([
      'CVE-2022-25883 | pkg:npm/semver@7.5.1 | fixed | -',
      'GHSA-1111-2222-3333 | pkg:npm/lru-cache@6.0.0 | under_investigation | -',
      'CVE-2024-12345 | pkg:npm/%40stella/worker@2.0.0 | not_affected | -',
      'CVE-2024-12345 | worker-image | not_affected | -',
    ]);
  });

  it('1.6: keeps BOM-Links into other BOMs and resolves those into this BOM', () => {
    const out = claims(cycloneDxVexNormalizer, fixture('cyclonedx/vex-1.6-bom-link.json'));
    expect(out.map(brief)).toEqual([
      'CVE-2025-10101 | urn:cdx:3e671687-395b-41f5-a30f-a58921a69b79/1#pkg:pypi/requests@2.31.0 | not_affected | requires_environment',
      'CVE-2025-10101 | pkg:pypi/local-lib@1.0.0 | not_affected | requires_environment',
    ]);
    expect(out[0]?.issuedAt).toBe('2025-07-02T00:00:00.000Z');
  });

  it("resolves a BOM-Link into this BOM whatever the UUID's case, and keeps one into another version of it", () => {
    const bom = (serialNumber: string, version: number | undefined, ref: string) => ({
      bomFormat: 'CycloneDX',
      specVersion: '1.6',
      serialNumber,
      ...(version === undefined ? {} : { version }),
      components: [{ type: 'library', 'bom-ref': 'lib', name: 'lib', purl: 'pkg:pypi/lib@1.0.0' }],
      vulnerabilities: [{ id: 'CVE-2025-1', analysis: { state: 'not_affected' }, affects: [{ ref }] }],
    });
    const key = (d: object) => claims(cycloneDxVexNormalizer, d)[0]?.productKey;
    const uuid = 'c1a2b3d4-e5f6-4789-8abc-def012345678';
    expect(key(bom(`urn:uuid:${uuid.toUpperCase()}`, 2, `urn:cdx:${uuid}/2#lib`))).toBe('pkg:pypi/lib@1.0.0');
    expect(key(bom(`urn:uuid:${uuid}`, undefined, `urn:cdx:${uuid.toUpperCase()}/1#lib`))).toBe('pkg:pypi/lib@1.0.0');
    // Version 1 of this BOM may have held another component under that bom-ref.
    expect(key(bom(`urn:uuid:${uuid}`, 2, `urn:cdx:${uuid}/1#lib`))).toBe(`urn:cdx:${uuid}/1#lib`);
    // The schema writes a link's version without leading zeros.
    expect(key(bom(`urn:uuid:${uuid}`, 1, `urn:cdx:${uuid}/01#lib`))).toBe(`urn:cdx:${uuid}/01#lib`);
  });

  it('reads a ref written as a BOM-Link as a link, even when a bom-ref is spelled alike', () => {
    const uuid = 'c1a2b3d4-e5f6-4789-8abc-def012345678';
    const other = '3e671687-395b-41f5-a30f-a58921a69b79';
    const doc = (ref: string) => ({
      bomFormat: 'CycloneDX',
      specVersion: '1.6',
      serialNumber: `urn:uuid:${uuid}`,
      version: 1,
      components: [
        { type: 'library', 'bom-ref': 'lib', name: 'lib', purl: 'pkg:pypi/lib@1.0.0' },
        // bom-refs that should not start with urn:cdx: (CycloneDX), the first two spelled as BOM-Links.
        { type: 'library', 'bom-ref': `urn:cdx:${uuid}/1#lib`, name: 'a', purl: 'pkg:pypi/a@1.0.0' },
        { type: 'library', 'bom-ref': `urn:cdx:${other}/1#lib`, name: 'b', purl: 'pkg:pypi/b@1.0.0' },
        { type: 'library', 'bom-ref': 'urn:cdx:not-a-link', name: 'c', purl: 'pkg:pypi/c@1.0.0' },
      ],
      vulnerabilities: [{ id: 'CVE-2025-1', analysis: { state: 'not_affected' }, affects: [{ ref }] }],
    });
    const key = (ref: string) => claims(cycloneDxVexNormalizer, doc(ref))[0]?.productKey;
    expect(key(`urn:cdx:${uuid}/1#lib`)).toBe('pkg:pypi/lib@1.0.0');
    expect(key(`urn:cdx:${other}/1#lib`)).toBe(`urn:cdx:${other}/1#lib`);
    // Not a BOM-Link (no UUID, version and bom-ref): a bom-ref, however it starts.
    expect(key('urn:cdx:not-a-link')).toBe('pkg:pypi/c@1.0.0');
  });

  describe('a BOM whose version is no integer from 1 keeps the BOM-Links into it', () => {
    const uuid = 'c1a2b3d4-e5f6-4789-8abc-def012345678';
    const bomText = (version: string, link: string) =>
      `{"bomFormat":"CycloneDX","specVersion":"1.6","serialNumber":"urn:uuid:${uuid}","version":${version},
        "components":[{"type":"library","bom-ref":"lib","name":"lib","purl":"pkg:pypi/lib@1.0.0"}],
        "vulnerabilities":[{"id":"CVE-2025-1","analysis":{"state":"not_affected"},"affects":[{"ref":"${link}"}]}]}`;
    const key = (version: string, link: string) => claims(cycloneDxVexNormalizer, JSON.parse(bomText(version, link)))[0]?.productKey;

    it.each(['"1"', '[1]', 'true', '1.5', '0', 'null'])('version %s', (version) => {
      expect(key(version, `urn:cdx:${uuid}/1#lib`)).toBe(`urn:cdx:${uuid}/1#lib`);
    });

    it('a version past 2^53 - 1, which JSON.parse does not read as written', () => {
      expect(key('9007199254740993', `urn:cdx:${uuid}/9007199254740993#lib`)).toBe(`urn:cdx:${uuid}/9007199254740993#lib`);
      expect(key('9007199254740991', `urn:cdx:${uuid}/9007199254740991#lib`)).toBe('pkg:pypi/lib@1.0.0');
    });
  });

  it.each([
    ['resolved', 'fixed'],
    ['resolved_with_pedigree', 'fixed'],
    ['exploitable', 'affected'],
    ['in_triage', 'under_investigation'],
    ['false_positive', 'not_affected'],
    ['not_affected', 'not_affected'],
  ])('maps analysis.state %s to %s', (state, status) => {
    const doc = {
      bomFormat: 'CycloneDX',
      specVersion: '1.6',
      vulnerabilities: [{ id: 'CVE-1', analysis: { state }, affects: [{ ref: 'x' }] }],
    };
    expect(claims(cycloneDxVexNormalizer, doc)[0]?.status).toBe(status);
  });

  it('rejects an unknown state, a missing id and a missing ref', () => {
    const make = (v: object): unknown => ({ bomFormat: 'CycloneDX', specVersion: '1.5', vulnerabilities: [v] });
    for (const [v, field] of [
      [{ id: 'CVE-1', analysis: { state: 'patched' }, affects: [{ ref: 'x' }] }, 'analysis.state'],
      [{ analysis: { state: 'resolved' } }, 'vulnerabilities[0].id'],
      [{ id: 'CVE-1', analysis: { state: 'resolved' }, affects: [{}] }, 'affects[0].ref'],
    ] as const) {
      const r = cycloneDxVexNormalizer.normalize(make(v), ctx);
      expect(r.isErr() && r.error.code).toBe('DOCUMENT_INVALID');
      expect(r.isErr() && r.error.message).toContain(field);
    }
  });

  it('says a ref or id of another type is that type, not missing', () => {
    const make = (v: object): unknown => ({ bomFormat: 'CycloneDX', specVersion: '1.5', vulnerabilities: [v] });
    const message = (v: object): string | false => {
      const r = cycloneDxVexNormalizer.normalize(make(v), ctx);
      return r.isErr() && r.error.message;
    };
    expect(message({ id: 'CVE-1', analysis: { state: 'resolved' }, affects: [{ ref: 5 }] })).toBe(
      'CycloneDX document sha256:fixture: vulnerabilities[0].affects[0].ref is a number, not a ref',
    );
    expect(message({ id: ['CVE-1'], analysis: { state: 'resolved' }, affects: [] })).toBe(
      'CycloneDX document sha256:fixture: vulnerabilities[0].id is an array, not an id',
    );
    expect(message({ id: 'CVE-1', analysis: { state: 'resolved' }, affects: [{ ref: ' ' }] })).toBe(
      'CycloneDX document sha256:fixture: vulnerabilities[0].affects[0].ref is empty',
    );
  });

  it('skips a vulnerability without an analysis (inventory) even when it has no id, as the schema allows', () => {
    const doc = {
      bomFormat: 'CycloneDX',
      specVersion: '1.6',
      vulnerabilities: [
        { description: 'listed, not analysed', affects: [{ ref: 'x' }] },
        { id: 'CVE-1', analysis: { state: 'resolved' }, affects: [{ ref: 'x' }] },
      ],
    };
    expect(claims(cycloneDxVexNormalizer, doc).map((c) => [c.vulnerabilityId, c.status])).toEqual([['CVE-1', 'fixed']]);
  });
});

describe('document times (one strict reader for every normalizer)', () => {
  const openVex = (statementTime: unknown, documentTime?: string): unknown => ({
    '@context': 'https://openvex.dev/ns/v0.2.0',
    ...(documentTime === undefined ? {} : { timestamp: documentTime }),
    statements: [{ vulnerability: { name: 'CVE-1' }, products: [{ '@id': 'pkg:npm/a@1' }], status: 'fixed', timestamp: statementTime }],
  });
  const csaf = (time: string): unknown => ({
    document: { csaf_version: '2.0', tracking: { current_release_date: time, initial_release_date: '2020-01-01T00:00:00Z' } },
    product_tree: { full_product_names: [{ product_id: 'P1', name: 'p' }] },
    vulnerabilities: [{ cve: 'CVE-2026-0001', product_status: { fixed: ['P1'] } }],
  });
  const cycloneDx = (time: string): unknown => ({
    bomFormat: 'CycloneDX',
    specVersion: '1.5',
    metadata: { timestamp: '2020-01-01T00:00:00Z' },
    vulnerabilities: [{ id: 'CVE-1', analysis: { state: 'resolved', lastUpdated: time }, affects: [{ ref: 'a' }] }],
  });
  /** The `issuedAt` each normalizer gives `time` (the document's fallback is 2020-01-01), with the process in time zone `tz`. */
  function issuedAt(time: string, tz = 'UTC'): (string | undefined)[] {
    const saved = process.env['TZ'];
    process.env['TZ'] = tz;
    try {
      return [
        openVexIssuedAt(openVex(time, '2020-01-01T00:00:00Z')),
        claims(csafVexNormalizer, csaf(time))[0]?.issuedAt,
        claims(cycloneDxVexNormalizer, cycloneDx(time))[0]?.issuedAt,
      ];
    } finally {
      if (saved === undefined) delete process.env['TZ'];
      else process.env['TZ'] = saved;
    }
  }
  /** OpenVEX orders statements by time: one it cannot read fails the document (`'fails'`) rather than falling back. */
  function openVexIssuedAt(doc: unknown): string | undefined {
    const r = openVexNormalizer.normalize(doc, ctx);
    return r.isErr() ? 'fails' : r.value[0]?.issuedAt;
  }
  const each = (iso: string | undefined): (string | undefined)[] => [iso, iso, iso];
  const FALLBACK = '2020-01-01T00:00:00.000Z';

  it('read a time without an offset as UTC, whatever the host time zone', () => {
    for (const time of ['2024-01-01T00:00:00', '2024-01-01 00:00:00', '2024-01-01 00:00', '2024-01-01T00:00:00.5']) {
      const utc = time.endsWith('.5') ? '2024-01-01T00:00:00.500Z' : '2024-01-01T00:00:00.000Z';
      for (const tz of ['UTC', 'America/New_York', 'Asia/Tokyo']) expect(issuedAt(time, tz), `${time} in ${tz}`).toEqual(each(utc));
    }
  });

  it('read RFC 3339 offsets, Z in either case, a date alone as its midnight UTC, and cut a fraction to the millisecond', () => {
    expect(issuedAt('2024-01-01T10:00:00+05:30')).toEqual(each('2024-01-01T04:30:00.000Z'));
    expect(issuedAt('2024-01-01t10:00:00-0200')).toEqual(each('2024-01-01T12:00:00.000Z'));
    expect(issuedAt('2024-01-01 10:00:00+05')).toEqual(each('2024-01-01T05:00:00.000Z'));
    expect(issuedAt('2024-01-01T00:00:00.123456z')).toEqual(each('2024-01-01T00:00:00.123Z'));
    expect(issuedAt('2024-02-29')).toEqual(each('2024-02-29T00:00:00.000Z'));
    expect(issuedAt('2023-03-01T00:30:00+01:00')).toEqual(each('2023-02-28T23:30:00.000Z'));
    expect(issuedAt('0050-06-15T12:00:00Z')).toEqual(each('0050-06-15T12:00:00.000Z'));
  });

  it.each([
    [
      'text that is not a time (Date.parse read "1" as 2001)',
      ['1', 'fixed in 2', 'v2 2', 'Jan 1 2024', '2024-01-01T00:00:00 EST', '2024/01/01', '20240101T000000Z'],
    ],
    [
      'a date or time that does not exist',
      ['2023-02-29', '2024-02-30T00:00:00Z', '2024-13-01', '2024-01-01T24:00:00Z', '2016-12-31T23:59:61Z'],
    ],
    ['an offset PostgreSQL refuses', ['2024-01-01T00:00:00+16:00', '2024-01-01T00:00:00+01:60']],
    [
      'an instant outside the years 0001 to 9999 UTC, which PostgreSQL cannot store',
      [
        '0000-06-01T00:00:00Z',
        '+010000-01-01T00:00:00Z',
        '-000001-01-01T00:00:00Z',
        '0001-01-01T00:30:00+01:00',
        '9999-12-31T23:00:00-05:00',
        '9999-12-31T23:59:60Z',
      ],
    ],
  ])('fall back to the next time the document gives past %s (OpenVEX: fail the document)', (_, times) => {
    for (const time of times) expect(issuedAt(time), time).toEqual(['fails', FALLBACK, FALLBACK]);
  });

  it('read the first and last instants PostgreSQL stores from an ISO form', () => {
    expect(issuedAt('0001-01-01T00:00:00Z')).toEqual(each('0001-01-01T00:00:00.000Z'));
    expect(issuedAt('9999-12-31T23:59:59.999Z')).toEqual(each('9999-12-31T23:59:59.999Z'));
  });

  it('give no issuedAt when no time the document gives is one', () => {
    expect(claims(openVexNormalizer, openVex(undefined))[0]?.issuedAt).toBeUndefined();
    expect(claims(openVexNormalizer, openVex(null))[0]?.issuedAt).toBeUndefined();
  });
});
