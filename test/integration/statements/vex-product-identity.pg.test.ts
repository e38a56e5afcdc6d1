/**
 * What a stored claim says about a product, when a document names it in
 * more than one way, read back from PostgreSQL with psql.
 *
 * OpenVEX: a product's `@id` is an IRI that makes it referenceable in the
 * document, and `identifiers` lists its software identifiers (a purl above
 * all); VEX processors match a product by any of them, and a later
 * statement about a product overrides an earlier one. So statements that
 * name one product by its `@id` and by its purl are about one product.
 *
 * CycloneDX 1.4+: `affects[].versions[]` gives the status of single versions
 * or ranges of the affected component (`affected`, the default;
 * `unaffected`; `unknown`). A component at a version the document marks
 * unaffected is not affected, whatever the analysis of the vulnerability
 * says about the versions it affects.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../support/pg.js';
import { PgRawDocumentSource } from '../../../src/statements/pg-raw-document-source.js';
import { backfillSingleProcess, psql } from './helpers.js';

const IRI = 'https://example.com/products/renderer';
const PURL = 'pkg:npm/renderer@3.4.1';

const openVex = (statements: unknown[]): string =>
  JSON.stringify({ '@context': 'https://openvex.dev/ns/v0.2.0', timestamp: '2025-01-01T00:00:00Z', statements });
const statement = (products: unknown[], status: string, timestamp: string) => ({
  vulnerability: { name: 'CVE-2025-1' },
  products,
  status,
  ...(status === 'not_affected' ? { justification: 'component_not_present' } : {}),
  timestamp,
});

/** Each document, and the claims (vulnerability, product key, status) it must leave in the statements table. */
const DOCUMENTS: readonly { digest: string; content: string; claims: string }[] = [
  {
    // By @id and purl first, by the purl alone later: the later one is the product's claim.
    digest: 'sha256:openvex-id-then-purl',
    content: openVex([
      statement([{ '@id': IRI, identifiers: { purl: PURL } }], 'not_affected', '2025-01-02T00:00:00Z'),
      statement([{ identifiers: { purl: PURL } }], 'affected', '2025-01-03T00:00:00Z'),
    ]),
    claims: `CVE-2025-1|${PURL}|affected`,
  },
  {
    // By the purl first, by @id and purl later.
    digest: 'sha256:openvex-purl-then-id',
    content: openVex([
      statement([{ identifiers: { purl: PURL } }], 'affected', '2025-01-02T00:00:00Z'),
      statement([{ '@id': IRI, identifiers: { purl: PURL } }], 'not_affected', '2025-01-03T00:00:00Z'),
    ]),
    claims: `CVE-2025-1|${PURL}|not_affected`,
  },
  {
    // By @id alone later: the document gave that @id's purl in an earlier statement.
    digest: 'sha256:openvex-id-alone-later',
    content: openVex([
      statement([{ '@id': IRI, identifiers: { purl: PURL } }], 'under_investigation', '2025-01-02T00:00:00Z'),
      statement([{ '@id': IRI }], 'fixed', '2025-01-03T00:00:00Z'),
    ]),
    claims: `CVE-2025-1|${PURL}|fixed`,
  },
];

const cycloneDx = (state: string, components: unknown[], affects: unknown[]): string =>
  JSON.stringify({
    bomFormat: 'CycloneDX',
    specVersion: '1.6',
    version: 1,
    metadata: { timestamp: '2025-01-01T00:00:00Z' },
    components,
    vulnerabilities: [{ id: 'CVE-2025-2', analysis: { state, justification: 'code_not_reachable', detail: 'analysed' }, affects }],
  });
const FOO = { 'bom-ref': 'foo', type: 'library', name: 'foo', version: '1.2.3', purl: 'pkg:npm/foo@1.2.3' };
const BAR = { 'bom-ref': 'bar', type: 'library', name: 'bar', purl: 'pkg:npm/bar@2.0.0' };
const BAZ = { 'bom-ref': 'baz', type: 'library', name: 'baz', purl: 'pkg:npm/baz' };
const fooVersions = (...versions: unknown[]): unknown[] => [{ ref: 'foo', versions }];

const CYCLONEDX: readonly { digest: string; content: string; claims: string }[] = [
  {
    // Exploitable below 1.2.3; the BOM's foo is 1.2.3, which the document marks unaffected.
    digest: 'sha256:cdx-own-version-unaffected',
    content: cycloneDx(
      'exploitable',
      [FOO],
      fooVersions({ range: 'vers:npm/<1.2.3', status: 'affected' }, { version: '1.2.3', status: 'unaffected' }),
    ),
    claims: 'CVE-2025-2|pkg:npm/foo@1.2.3|not_affected',
  },
  {
    // A version without a status is affected (the schema's default); bar's version read from its purl.
    digest: 'sha256:cdx-own-version-affected',
    content: cycloneDx(
      'exploitable',
      [BAR],
      [{ ref: 'bar', versions: [{ version: '1.0.0', status: 'unaffected' }, { version: '2.0.0' }] }],
    ),
    claims: 'CVE-2025-2|pkg:npm/bar@2.0.0|affected',
  },
  {
    // No version of baz's own: every version listed is unaffected.
    digest: 'sha256:cdx-all-unaffected',
    content: cycloneDx('in_triage', [BAZ], [{ ref: 'baz', versions: [{ range: 'vers:npm/>=1.0.0', status: 'unaffected' }] }]),
    claims: 'CVE-2025-2|pkg:npm/baz|not_affected',
  },
  {
    // Resolved, and the BOM's version unaffected: fixed, as the analysis says.
    digest: 'sha256:cdx-resolved-unaffected',
    content: cycloneDx('resolved', [FOO], [{ ref: 'foo', versions: [{ version: '1.2.3', status: 'unaffected' }] }]),
    claims: 'CVE-2025-2|pkg:npm/foo@1.2.3|fixed',
  },
  {
    // Ranges alone: foo's version 1.2.3 is in the unaffected one.
    digest: 'sha256:cdx-ranges-decided',
    content: cycloneDx(
      'exploitable',
      [FOO],
      fooVersions({ range: 'vers:npm/<1.0.0', status: 'affected' }, { range: 'vers:npm/>=1.0.0', status: 'unaffected' }),
    ),
    claims: 'CVE-2025-2|pkg:npm/foo@1.2.3|not_affected',
  },
  {
    // A range that cannot be evaluated here (a pre-release bound): which status holds foo is not known.
    digest: 'sha256:cdx-ranges-undecided',
    content: cycloneDx(
      'exploitable',
      [FOO],
      fooVersions({ range: 'vers:npm/<1.2.3-rc.1', status: 'affected' }, { range: 'vers:npm/>=1.2.3-rc.1', status: 'unaffected' }),
    ),
    claims: 'CVE-2025-2|pkg:npm/foo@1.2.3|under_investigation',
  },
  {
    // Only other versions are listed: nothing says what foo 1.2.3 is.
    digest: 'sha256:cdx-other-version',
    content: cycloneDx('exploitable', [FOO], fooVersions({ range: 'vers:npm/<1.0.0', status: 'unaffected' })),
    claims: 'CVE-2025-2|pkg:npm/foo@1.2.3|under_investigation',
  },
];

let db: TestDatabase;

/** The claims a document left, as `vulnerability|product key|status` lines (read with psql). */
const storedClaims = (digest: string): string =>
  psql(
    db.url,
    `SELECT vulnerability_id || '|' || product_key || '|' || status FROM vex.statements WHERE document_digest = '${digest}' ORDER BY 1`,
  );

beforeAll(async () => {
  db = await createTestDatabase();
  const source = new PgRawDocumentSource({ pg: db.url });
  try {
    (await source.prepare())._unsafeUnwrap();
    (
      await source.append(
        [...DOCUMENTS, ...CYCLONEDX].map((d, i) => ({
          digest: d.digest,
          retrievedAt: new Date(Date.UTC(2025, 0, 1, 0, 0, i)),
          content: d.content,
        })),
      )
    )._unsafeUnwrap();
  } finally {
    await source.close();
  }
  (await backfillSingleProcess(db.url, { runId: 'identity' }))._unsafeUnwrap();
});
afterAll(async () => {
  await db?.drop();
});

describe('one product named in several ways within a document', () => {
  it.each(DOCUMENTS)('$digest', ({ digest, claims }) => {
    expect(storedClaims(digest)).toBe(claims);
  });
});

describe('CycloneDX per-version status', () => {
  it.each(CYCLONEDX)('$digest', ({ digest, claims }) => {
    expect(storedClaims(digest)).toBe(claims);
  });

  it('an overridden status keeps no justification or detail of the analysis', () => {
    expect(
      psql(
        db.url,
        "SELECT coalesce(justification, '-') || '|' || coalesce(statement, '-') FROM vex.statements WHERE document_digest = 'sha256:cdx-own-version-unaffected'",
      ),
    ).toBe('-|-');
    expect(
      psql(
        db.url,
        "SELECT coalesce(justification, '-') || '|' || coalesce(statement, '-') FROM vex.statements WHERE document_digest = 'sha256:cdx-resolved-unaffected'",
      ),
    ).toBe('code_not_reachable|analysed');
  });
});
