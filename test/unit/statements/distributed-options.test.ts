import { describe, expect, it } from 'vitest';
import { planAndWork } from '../../../src/statements/distributed-worker.js';
import { defaultVexNormalizers, planBackfill, runBackfillWorker, StatementBackfiller } from '../../../src/statements/index.js';
import { unusedSink as sink, unusedSource as source } from './unused-ports.js';

/** Nothing listens here: a call that connected before checking its options would fail with DB_CONNECTION instead. */
const nowhere = { connectionString: 'postgres://postgres@127.0.0.1:1/none' };

describe('distributed backfill options are checked before any connection', () => {
  it.each([
    [{ runId: '' }, /runId/],
    [{ runId: 'x'.repeat(181) }, /runId/],
    [{ runId: '   ' }, /runId must be a non-blank string/],
    [{ runId: 'nightly\n' }, /holds a control character/],
    [{ runId: 'a\u0000b' }, /holds a control character/],
    [{ runId: 'x\ud800' }, /half of a surrogate pair/],
    // Look-alikes of 'nightly': a zero-width space, a byte-order mark, a soft hyphen, a right-to-left mark.
    [
      { runId: 'night\u200bly' },
      /^runId "night\\u200bly" holds an invisible character \(U\+200B\); type the run id in visible characters only\.$/,
    ],
    [{ runId: '\ufeffnightly' }, /invisible character \(U\+FEFF\)/],
    [{ runId: 'night\u00adly' }, /invisible character \(U\+00AD\)/],
    [{ runId: 'nightly\u200f' }, /invisible character \(U\+200F\)/],
    // 'café' with its accent as a combining mark (NFD), which prints as 'café' written with é (NFC).
    [
      { runId: 'cafe\u0301' },
      /^runId "cafe\\u0301" is not in Unicode normalization form C, so it prints like "caf\\u00e9" \(café\); use that form\.$/,
    ],
    [{ runId: 'nightly#range-3' }, /names a key range of a planned run/],
    [
      { runId: 'nightly ' },
      /^runId "nightly\\u0020" begins or ends with white space, so it prints like "nightly", another run; leave the white space out\.$/,
    ],
    [{ runId: '\u00a0nightly' }, /^runId "\\u00a0nightly" begins or ends with white space/],
    [{ runId: 'r', batchSize: 0 }, /batchSize/],
    [{ runId: 'r', rangeSize: 1.5 }, /rangeSize/],
    [{ runId: 'r', rangeSize: 2 ** 31 }, /^rangeSize must be an integer from 1 to 2147483647; got 2147483648\.$/],
    [{ runId: 'r', maxDocuments: -1 }, /maxDocuments/],
    [{ runId: 'r', maxDocuments: 2 ** 53 }, /^maxDocuments must be an integer from 1 to 9007199254740991; got 9007199254740992\.$/],
    [{ runId: 'r', retrievedSince: new Date('nope') }, /retrievedSince/],
  ])('planBackfill refuses %o', async (options, message) => {
    const r = await planBackfill(nowhere, options);
    expect(r.isErr() && r.error.code).toBe('INVALID_ARGUMENT');
    expect(r.isErr() && r.error.message).toMatch(message);
  });

  it('runBackfillWorker and planAndWork refuse a concurrency outside 1–64', async () => {
    for (const concurrency of [0, 65, 2.5]) {
      const worker = await runBackfillWorker(nowhere, { concurrency });
      expect(worker.isErr() && worker.error.code).toBe('INVALID_ARGUMENT');
      const both = await planAndWork(nowhere, { runId: 'r' }, { concurrency }, () => undefined);
      expect(both.isErr() && both.error.message).toMatch(/concurrency/);
    }
    const badPlan = await planAndWork(nowhere, { runId: '' }, {}, () => undefined);
    expect(badPlan.isErr() && badPlan.error.message).toMatch(/runId/);
  });

  it('a worker waiting for one run, and a single-process run, refuse the same run ids', async () => {
    for (const runId of [' ', 'a\tb', 'x\udc00', 'night\u200bly', ' lnm-21-102', 'lnm-21-102\u3000']) {
      const worker = await runBackfillWorker(nowhere, { runId, untilDone: true });
      expect(worker.isErr() && worker.error.code).toBe('INVALID_ARGUMENT');
      const single = await new StatementBackfiller({ source, sink, normalizers: defaultVexNormalizers }).run({ runId });
      expect(single.isErr() && single.error.message).toMatch(/runId/);
    }
  });

  it("a worker refuses a key range's checkpoint id as its run: no plan can take that id, so it would wait for ever", async () => {
    const worker = await runBackfillWorker(nowhere, { runId: 'nightly#range-3', untilDone: true });
    expect(worker.isErr() && worker.error.code).toBe('INVALID_ARGUMENT');
    expect(worker.isErr() && worker.error.message).toMatch(/names a key range of a planned run/);
  });
});
