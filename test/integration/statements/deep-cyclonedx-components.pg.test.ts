/**
 * CycloneDX components nested thousands deep: the calling thread's stack is
 * smaller than a normalizer thread's, so such a document must get the same
 * outcome on either, and `statements backfill --workers 2` (one worker with
 * one normalizer thread) must end with the single-process summary and
 * report hash.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../support/pg.js';
import { defaultVexNormalizers } from '../../../src/statements/defaults.js';
import { planAndWork } from '../../../src/statements/distributed-worker.js';
import { backfillReport } from '../../../src/statements/distributed-report.js';
import { PgRawDocumentSource } from '../../../src/statements/pg-raw-document-source.js';
import { PgStatementSink } from '../../../src/statements/pg-statement-sink.js';
import { StatementBackfiller } from '../../../src/statements/statement-backfiller.js';

/** Deeper than the calling thread's stack allowed a recursive walk, well within a normalizer thread's. */
const DEPTH = 15_000;
const DOCUMENTS = 4;

/** A BOM whose one vulnerability affects a leaf component `DEPTH` levels down. */
function deepBom(i: number): string {
  let inner = `{"type":"library","name":"leaf","bom-ref":"ref-leaf","purl":"pkg:npm/deep-${i}@1.0.0"}`;
  for (let d = 0; d < DEPTH; d += 1) inner = `{"type":"library","name":"c${d}","bom-ref":"r${d}","components":[${inner}]}`;
  const vulnerabilities = [{ id: `CVE-2024-${1000 + i}`, analysis: { state: 'not_affected' }, affects: [{ ref: 'ref-leaf' }] }];
  return `{"bomFormat":"CycloneDX","specVersion":"1.5","version":1,"components":[${inner}],"vulnerabilities":${JSON.stringify(vulnerabilities)}}`;
}

let single: TestDatabase;
let spread: TestDatabase;

beforeAll(async () => {
  [single, spread] = await Promise.all([createTestDatabase(), createTestDatabase()]);
  const docs = Array.from({ length: DOCUMENTS }, (_, i) => ({
    digest: `sha256:${String(i).padStart(64, '0')}`,
    retrievedAt: new Date(Date.UTC(2025, 9, 1, 0, 0, i)),
    content: deepBom(i),
  }));
  for (const db of [single, spread]) {
    const source = new PgRawDocumentSource({ pg: db.url });
    (await source.prepare())._unsafeUnwrap();
    (await source.append(docs))._unsafeUnwrap();
    await source.close();
  }
});
afterAll(async () => {
  await Promise.all([single?.drop(), spread?.drop()]);
});

describe('CycloneDX components nested thousands deep', () => {
  it('normalize on the calling thread and on a normalizer thread alike', async () => {
    const source = new PgRawDocumentSource({ pg: single.url });
    const sink = new PgStatementSink({ pg: single.url });
    const alone = (
      await new StatementBackfiller({ source, sink, normalizers: defaultVexNormalizers }).run({ runId: 'one', batchSize: DOCUMENTS })
    )._unsafeUnwrap();
    await Promise.all([source.close(), sink.close()]);
    expect({ failures: alone.failures, claimsWritten: alone.claimsWritten }).toEqual({ failures: 0, claimsWritten: DOCUMENTS });

    const config = { connectionString: spread.url };
    (await planAndWork(config, { runId: 'two', batchSize: DOCUMENTS }, { threads: 1 }, () => undefined))._unsafeUnwrap();
    const spreadRun = (await backfillReport(config, 'two'))._unsafeUnwrap();
    expect(spreadRun.state).toBe('completed');
    expect(spreadRun.summary.text).toBe(alone.text);
    expect(spreadRun.summary.reportSha256).toBe(alone.reportSha256);
  }, 120_000);
});
