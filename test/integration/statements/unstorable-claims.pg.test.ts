/**
 * A claim PostgreSQL would refuse fails the whole batch's write, and every
 * resume of it (a planned range uses up its attempts): a time outside the
 * years 0001 to 9999, or a key longer than a btree index entry holds. Such a
 * time is not read (CSAF and CycloneDX fall back to the document's next
 * time; OpenVEX, which orders statements by their times, fails the
 * document) and such a claim, or a custom normalizer's time PostgreSQL cannot store,
 * fails its own document, so the run goes on past it, in one process or
 * planned with a normalizer thread alike.
 */
import { ok } from 'neverthrow';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  DEFAULT_DOCUMENTS_TABLE,
  DEFAULT_FAILURES_TABLE,
  DEFAULT_STATEMENTS_TABLE,
  defaultVexNormalizers,
  MAX_CLAIM_KEY_BYTES,
} from '../../../src/statements/defaults.js';
import { planAndWork } from '../../../src/statements/distributed-worker.js';
import { backfillReport } from '../../../src/statements/distributed-report.js';
import { PgRawDocumentSource } from '../../../src/statements/pg-raw-document-source.js';
import { PgStatementSink } from '../../../src/statements/pg-statement-sink.js';
import type { VexNormalizer } from '../../../src/statements/ports.js';
import { StatementBackfiller } from '../../../src/statements/statement-backfiller.js';
import { createTestDatabase, type TestDatabase } from '../../support/pg.js';
import { psql } from './helpers.js';

/** `n` characters that do not compress, so an index entry of them is about `n` bytes (PostgreSQL compresses long keys). */
function incompressible(n: number, seed = 12345): string {
  let x = seed;
  let out = '';
  while (out.length < n) {
    x = (x * 1103515245 + 12345) % 2147483648;
    out += (x % 36).toString(36);
  }
  return out;
}

function openVex(vulnerability: string, times: { document?: string; statement?: string }, product = 'pkg:npm/a@1'): string {
  return JSON.stringify({
    '@context': 'https://openvex.dev/ns/v0.2.0',
    ...(times.document === undefined ? {} : { timestamp: times.document }),
    statements: [
      {
        vulnerability: { name: vulnerability },
        products: [{ '@id': product }],
        status: 'fixed',
        ...(times.statement === undefined ? {} : { timestamp: times.statement }),
      },
    ],
  });
}

/** Long enough that each key column takes a 4-byte length word and alignment: the most an index entry adds to the key. */
const LONG_DIGEST = `sha256:${incompressible(130, 1)}`;
const LONG_VULNERABILITY = `CVE-${incompressible(130, 2)}`;

/** Documents with their digests, in retrieval order; `issued_at` / failure each one should end with. */
const DOCUMENTS: readonly { digest: string; content: string; expect: string }[] = [
  { digest: 'sha256:0', content: openVex('CVE-0', { document: '2024-01-01T00:00:00Z' }), expect: '2024-01-01 00:00:00+00' },
  { digest: 'sha256:1', content: openVex('CVE-1', { document: '0000-06-01T00:00:00Z' }), expect: 'DOCUMENT_INVALID' },
  { digest: 'sha256:2', content: openVex('CVE-2', { document: '+010000-01-01T00:00:00Z' }), expect: 'DOCUMENT_INVALID' },
  {
    digest: 'sha256:3',
    content: openVex('CVE-3', { document: '2024-03-03T00:00:00', statement: '0000-01-01T00:00:00Z' }),
    expect: 'DOCUMENT_INVALID',
  },
  {
    digest: 'sha256:4',
    content: openVex('CVE-4', {}, `pkg:generic/a@1?download_url=${incompressible(4000)}`),
    expect: 'DOCUMENT_INVALID',
  },
  {
    // A key of exactly the limit, each column long: PostgreSQL stores it.
    digest: LONG_DIGEST,
    content: openVex(LONG_VULNERABILITY, {}, incompressible(MAX_CLAIM_KEY_BYTES - LONG_DIGEST.length - LONG_VULNERABILITY.length, 3)),
    expect: 'null',
  },
  { digest: 'sha256:6', content: openVex('CVE-6', { statement: '2024-06-06T00:00:00+02:00' }), expect: '2024-06-05 22:00:00+00' },
];

let single: TestDatabase;
let planned: TestDatabase;
beforeAll(async () => {
  [single, planned] = await Promise.all([createTestDatabase(), createTestDatabase()]);
  for (const db of [single, planned]) {
    const source = new PgRawDocumentSource({ pg: db.url });
    (await source.prepare())._unsafeUnwrap();
    const docs = DOCUMENTS.map((d, i) => ({ digest: d.digest, retrievedAt: new Date(Date.UTC(2025, 0, 1, 0, 0, i)), content: d.content }));
    (await source.append(docs))._unsafeUnwrap();
    await source.close();
  }
});
afterAll(async () => {
  await Promise.all([single?.drop(), planned?.drop()]);
});

/** Backfills the documents in one batch into `prefix.*` with `normalizers`. */
async function backfill(prefix: string, normalizers: readonly VexNormalizer[]) {
  const source = new PgRawDocumentSource({ pg: single.url });
  const sink = new PgStatementSink({
    pg: single.url,
    statementsTable: tablesIn(prefix).statements,
    documentsTable: tablesIn(prefix).documents,
    checkpointsTable: `${prefix}.checkpoints`,
    failuresTable: tablesIn(prefix).failures,
  });
  try {
    return await new StatementBackfiller({ source, sink, normalizers }).run({ runId: prefix, batchSize: DOCUMENTS.length });
  } finally {
    await Promise.all([source.close(), sink.close()]);
  }
}

/** Where a run stored its documents, claims and failures. */
interface Tables {
  readonly documents: string;
  readonly statements: string;
  readonly failures: string;
}
const tablesIn = (prefix: string): Tables => ({
  documents: `${prefix}.documents`,
  statements: `${prefix}.statements`,
  failures: `${prefix}.failures`,
});

/** Each document's `issued_at` (UTC), or its failure's code. */
function outcomes(url: string, t: Tables): string[] {
  const rows = psql(
    url,
    `SELECT coalesce(f.code, coalesce(to_char(s.issued_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS+00'), 'null'))
       FROM ${t.documents} d FULL JOIN ${t.failures} f ON f.digest = d.document_digest
       LEFT JOIN ${t.statements} s ON s.document_digest = d.document_digest
      ORDER BY coalesce(d.document_digest, f.digest) COLLATE "C"`,
  );
  return rows.split('\n');
}

/** In the digests' order (which {@link outcomes} sorts by). */
const expected = (): string[] => [...DOCUMENTS].sort((a, b) => (a.digest < b.digest ? -1 : 1)).map((d) => d.expect);

describe('claims PostgreSQL would refuse', () => {
  it('fail their own document (or lose the time), and the run goes on past them, in one process or planned on a thread', async () => {
    const alone = await backfill('alone', defaultVexNormalizers);
    expect(alone.isOk() ? alone.value.text : `${alone.error.code}: ${alone.error.message}`).toMatch(
      /^Backfill completed: evaluated 7, backfilled 3, claims written 3, skipped 0, failures 4\./,
    );
    expect(outcomes(single.url, tablesIn('alone'))).toEqual(expected());
    expect(alone._unsafeUnwrap().failed.map((f) => f.digest)).toEqual(['sha256:1', 'sha256:2', 'sha256:3', 'sha256:4']);
    expect(alone._unsafeUnwrap().failed[3]?.message).toContain(
      `makes a claim for "CVE-4" whose key would have at least ${4029 + 'CVE-4'.length} bytes in UTF-8 (vulnerabilityId 5, productKey 4029 characters), over the ${MAX_CLAIM_KEY_BYTES} bytes`,
    );

    const config = { connectionString: planned.url };
    (await planAndWork(config, { runId: 'planned', batchSize: DOCUMENTS.length }, { threads: 1 }, () => undefined))._unsafeUnwrap();
    const plannedRun = (await backfillReport(config, 'planned'))._unsafeUnwrap();
    expect(plannedRun.summary.text).toBe(alone._unsafeUnwrap().text);
    expect(
      outcomes(planned.url, { documents: DEFAULT_DOCUMENTS_TABLE, statements: DEFAULT_STATEMENTS_TABLE, failures: DEFAULT_FAILURES_TABLE }),
    ).toEqual(expected());
  }, 120_000);

  it("fail the document of a custom normalizer's time PostgreSQL cannot store", async () => {
    const ancient: VexNormalizer = {
      format: 'ancient',
      canNormalize: (doc) => JSON.stringify(doc).includes('"CVE-0"'),
      normalize: (_doc, { digest }) =>
        ok([
          {
            vulnerabilityId: 'CVE-0',
            productKey: 'pkg:npm/a@1',
            status: 'fixed',
            issuedAt: '0000-01-01T00:00:00.000Z',
            documentDigest: digest,
            format: 'ancient',
          },
        ]),
    };
    const run = await backfill('custom', [ancient, ...defaultVexNormalizers]);
    expect(run.isOk() ? run.value.text : `${run.error.code}: ${run.error.message}`).toMatch(
      /^Backfill completed: evaluated 7, backfilled 2, claims written 2, skipped 0, failures 5\./,
    );
    expect(run._unsafeUnwrap().failed[0]).toMatchObject({
      digest: 'sha256:0',
      code: 'DOCUMENT_INVALID',
      message: expect.stringContaining('has issuedAt "0000-01-01T00:00:00.000Z", not an ISO-8601 date-time in the years 0001 to 9999'),
    });
  });
});
