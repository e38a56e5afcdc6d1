/**
 * NormalizerThreads against hostile documents and careless callers: the
 * outcome of a document may not depend on which thread normalized it (a
 * worker thread has a larger stack than the main thread), content that
 * cannot be sent to a thread is normalized by the caller, and threads do
 * not keep a process alive once idle.
 */
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { defaultVexNormalizers } from '../../../src/statements/defaults.js';
import { normalizeDocument, type NormalizableDocument } from '../../../src/statements/normalize.js';
import { NormalizerThreads } from '../../../src/statements/normalizer-threads.js';
import { generateVexDocuments } from '../../../src/testing/vex-documents.js';
import { untilThreadsTakePart } from './threads-take-part.js';

function outcome(r: ReturnType<typeof normalizeDocument>): unknown {
  return r.isOk() ? r.value : { code: r.error.code, message: r.error.message, digest: r.error.context['digest'] };
}

const here = (list: readonly NormalizableDocument[]): unknown[] => list.map((d) => outcome(normalizeDocument(defaultVexNormalizers, d)));

/** Copies of one document, enough chunks that both the threads and the caller take some. */
const copies = (content: NormalizableDocument['content'], n = 64): NormalizableDocument[] =>
  Array.from({ length: n }, (_, i) => ({ digest: `sha256:${i}`, retrievedAt: new Date(0), content }));

/** A CSAF document whose one product sits `depth` branches deep (built as text: JSON.stringify recurses). */
function deepBranches(depth: number): string {
  const branches = `${'[{"name":"b","branches":'.repeat(depth)}[{"product":{"product_id":"P","name":"p"}}]${'}]'.repeat(depth)}`;
  return `{"document":{"csaf_version":"2.0"},"product_tree":{"branches":${branches}},"vulnerabilities":[{"cve":"CVE-2024-0001","product_status":{"fixed":["P"]}}]}`;
}

/** A CSAF document whose product is a chain of `depth` relationships, each built on the previous one. */
function relationshipChain(depth: number): string {
  const rels: string[] = [];
  for (let i = depth; i >= 1; i -= 1) {
    rels.push(
      `{"category":"default_component_of","product_reference":"R${i - 1}","relates_to_product_reference":"B","full_product_name":{"product_id":"R${i}","name":"r"}}`,
    );
  }
  return `{"document":{"csaf_version":"2.0"},"product_tree":{"full_product_names":[{"product_id":"R0","name":"a"},{"product_id":"B","name":"b"}],"relationships":[${rels.join(',')}]},"vulnerabilities":[{"cve":"CVE-2024-0001","product_status":{"fixed":["R${depth}"]}}]}`;
}

/** A CSAF document whose status names, for a product id, arrays nested `depth` deep (a message once quoted it with JSON.stringify, which recurses). */
function deepStatusEntry(depth: number): string {
  return `{"document":{"csaf_version":"2.0"},"product_tree":{},"vulnerabilities":[{"cve":"CVE-2024-0001","product_status":{"fixed":[${'['.repeat(depth)}${']'.repeat(depth)}]}}]}`;
}

describe('NormalizerThreads with hostile documents', () => {
  it.each([
    ['branches nested 30000 deep', deepBranches(30_000), { format: 'csaf' }],
    // Its product key, `R0::B::…` 20,000 times, is past the claim key limit: failing on that limit (met by the 867th
    // join, built once the walk has gone down all 20,000), not on the stack, the calling thread walked the chain to its end.
    [
      'a chain of 20000 relationships',
      relationshipChain(20_000),
      {
        code: 'DOCUMENT_INVALID',
        message: expect.stringContaining(
          'names product "R20000", whose key, joined through product_tree.relationships, would be at least 2603 characters long',
        ),
      },
    ],
    [
      'a product id of arrays nested 6000 deep',
      deepStatusEntry(6_000),
      {
        code: 'DOCUMENT_INVALID',
        message: 'CSAF document sha256:0: vulnerabilities[0].product_status.fixed[0] is an array, not a product id',
      },
    ],
  ])('gives a CSAF document with %s the same outcome on every thread (no stack-size dependence)', async (_, content, onCaller) => {
    await using pool = new NormalizerThreads({ threads: 1 });
    await pool.start();
    const docs = copies(content, 24);
    const expected = here(docs);
    expect(expected[0], 'normalized on the calling thread').toMatchObject(onCaller);
    expect((await pool.normalize(docs)).map(outcome)).toEqual(expected);
  });

  it('normalizes on the calling thread what cannot be sent to a thread (a deeply nested parsed object), instead of throwing', async () => {
    await using pool = new NormalizerThreads({ threads: 1 });
    await pool.start();
    let deep: Record<string, unknown> = {};
    for (let i = 0; i < 200_000; i += 1) deep = { a: deep };
    const docs = [...copies(deep, 8), ...copies('{"bomFormat":"CycloneDX","vulnerabilities":[]}', 8)];
    expect((await pool.normalize(docs)).map(outcome)).toEqual(here(docs));
    // The threads still work afterwards.
    const fine = copies('{"bomFormat":"CycloneDX","vulnerabilities":[]}', 64);
    expect((await pool.normalize(fine)).map(outcome)).toEqual(here(fine));
  });

  it("gives a failed document's error the context and cause it has on the calling thread (stopOnError reports them)", async () => {
    await using pool = new NormalizerThreads({ threads: 1 });
    await pool.start();
    const docs: NormalizableDocument[] = [
      ...[...generateVexDocuments({ seed: 5, count: 200, brokenRatio: 0.5 })].map((d) => ({
        digest: d.digest,
        retrievedAt: d.retrievedAt,
        content: d.content,
      })),
      ...copies('{"document":', 8),
    ];
    const full = (r: ReturnType<typeof normalizeDocument>): unknown =>
      r.isOk()
        ? 'ok'
        : {
            code: r.error.code,
            message: r.error.message,
            context: r.error.context,
            cause: r.error.cause instanceof Error ? `${r.error.cause.name}: ${r.error.cause.message}` : r.error.cause,
          };
    const expected = docs.map((d) => full(normalizeDocument(defaultVexNormalizers, d)));
    expect(expected.some((e) => typeof e === 'object' && e !== null && Object.keys((e as { context: object }).context).length > 1)).toBe(
      true,
    );
    for (const results of await untilThreadsTakePart(pool, docs)) expect(results.map(full)).toEqual(expected);
    expect(pool.documentsByThreads).toBeGreaterThan(0);
  });

  it('finishes a call while more than 65536 chunks (the shared flags) are made by other calls meanwhile', async () => {
    await using pool = new NormalizerThreads({ threads: 1 });
    await pool.start();
    const doc = (i: number): NormalizableDocument => ({ digest: `sha256:${i}`, retrievedAt: new Date(0), content: '1' });
    // 128 chunks, live until the call ends; then, before it ends, as many chunks again as there are flags.
    const first = pool.normalize(Array.from({ length: 512 }, (_, i) => doc(i)));
    const others: Promise<unknown>[] = [];
    for (let i = 0; i < 65_536 - 128; i += 1) others.push(pool.normalize([doc(i)]));
    const last = pool.normalize(Array.from({ length: 512 }, (_, i) => doc(i)));
    let timer: NodeJS.Timeout | undefined;
    const hung = new Promise((resolve) => (timer = setTimeout(() => resolve('hung'), 20_000)));
    const done = Promise.all([first, last, ...others]).then(([a, b]) => [a, b]);
    const settled = await Promise.race([done, hung]);
    clearTimeout(timer);
    expect(settled, 'every call finished').not.toBe('hung');
    const expected = here(Array.from({ length: 512 }, (_, i) => doc(i)));
    expect((settled as ReturnType<typeof normalizeDocument>[][]).map((r) => r.map(outcome))).toEqual([expected, expected]);
  });

  it('keeps the process alive while a thread holds work or closes, and not once idle', async () => {
    const tsx = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
    const module = pathToFileURL(fileURLToPath(new URL('../../../src/statements/normalizer-threads.ts', import.meta.url))).href;
    // Nothing else is alive: the process must wait for the threads' answers and for close(), and exit once they are idle.
    // The documents only need to keep a thread busy well past the moment the main thread has nothing left to do.
    const script = `
      const { NormalizerThreads } = await import(${JSON.stringify(module)});
      const pool = new NormalizerThreads({ threads: 1 });
      await pool.start();
      const vulns = Array.from({ length: 50000 }, (_, i) => '{"cve":"CVE-2024-' + (10000 + i) + '"}').join(',');
      const big = '{"document":{"csaf_version":"2.0"},"vulnerabilities":[' + vulns + ']}';
      const docs = Array.from({ length: 512 }, (_, i) => ({ digest: 'd' + i, retrievedAt: new Date(0), content: i < 4 ? big : '{}' }));
      const results = await pool.normalize(docs);
      console.log('normalized', results.length);
      // Nothing else is alive either while a second pool closes with answers still coming (to chunks the caller took).
      const other = new NormalizerThreads({ threads: 1 });
      await other.start();
      await other.normalize(docs);
      const busy = Date.now();
      while (Date.now() - busy < 300);
      await other.close();
      console.log('closed');
      // The first pool is not closed: idle, its thread does not keep the process alive.
    `;
    const child = spawn(process.execPath, ['--import', tsx, '--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    // The work has no time limit but the test's. Once the child says it closed, nothing is left for it to do but exit:
    // an idle thread that held it open would keep it for ever, so 20 s (it takes milliseconds) tells the two apart.
    let lingered: NodeJS.Timeout | undefined;
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      stdout += d;
      if (stdout.includes('closed\n') && lingered === undefined) lingered = setTimeout(() => child.kill('SIGKILL'), 20_000);
    });
    const [status, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) =>
      child.once('close', (code, sig) => resolve([code, sig])),
    );
    clearTimeout(lingered);
    expect(signal, 'the process exited by itself once idle').toBeNull();
    expect(stderr).toBe('');
    expect(stdout).toBe('normalized 512\nclosed\n');
    expect(status).toBe(0);
  }, 180_000);
});
