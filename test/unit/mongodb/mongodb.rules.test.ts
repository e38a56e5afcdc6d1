/**
 * The pure decisions of the MongoDB adapters, checked exhaustively against
 * the rules they encode: what recovery drops, renames or leaves alone; what
 * a new session may create; which live-collection options are copied or
 * refused; which retried-insert errors may be the lost attempt's; which
 * backfilled-document records a run trusts, and which committed writer an
 * overwritten record keeps; how a batch is cut into transactions.
 */
import { describe, expect, it } from 'vitest';
import { beginProblem, commitEntryState, planRecovery, type CommitRecord, type StagingMarker } from '../../../src/mongodb/staging-state.js';
import { COPIED_COLLECTION_OPTIONS, incomingOptions, retriedInsertDuplicates } from '../../../src/mongodb/staging-rules.js';
import {
  keptWriters,
  splitForTransactions,
  trustedDigests,
  writerRuns,
  type DocumentRecord,
  type RecordWriter,
} from '../../../src/mongodb/statement-rules.js';
import { claim, digest, doc } from '../../contract/statement-fixtures.js';

const entry = { live: 'a', incoming: 'a__incoming', uuid: 'U' };
const at = new Date(0);
const marker = (name: string, session: string, uuid: string | null): StagingMarker => ({
  _id: name,
  kind: 'marker',
  live: name.split('__')[0]!,
  session,
  uuid,
  startedAt: at,
});
const commit = (session: string, tables = [entry]): CommitRecord => ({
  _id: `commit:${session}`,
  kind: 'commit',
  session,
  tables,
  startedAt: at,
});

describe('commitEntryState: by UUID, whatever the names say', () => {
  it.each([
    [{ a: 'U' }, 'done'],
    [{ a: 'U', a__incoming: 'X' }, 'done'],
    [{ a__incoming: 'U' }, 'pending'],
    [{ a: 'OLD', a__incoming: 'U' }, 'pending'],
    [{ a: 'OLD' }, 'lost'],
    [{ a: 'OLD', a__incoming: 'OTHER' }, 'lost'],
    [{}, 'lost'],
  ] as const)('%o → %s', (observed, state) => {
    expect(commitEntryState(entry, new Map(Object.entries(observed)))).toBe(state);
  });

  it.each([
    // a copy keeps the live UUID: only the incoming collection and the record's `copied` list tell the state
    [{ a: 'L', a__incoming: 'U' }, [], 'pending'],
    [{ a: 'L', a__incoming: 'U' }, ['a'], 'pending'],
    [{ a: 'L' }, ['a'], 'done'],
    [{ a: 'L' }, [], 'lost'],
    [{ a: 'L', a__incoming: 'OTHER' }, [], 'lost'],
    [{ a: 'U' }, [], 'lost'],
  ] as const)('copy entry: %o, copied %o → %s', (observed, copied, state) => {
    expect(commitEntryState({ ...entry, method: 'copy' }, new Map(Object.entries(observed)), copied)).toBe(state);
  });
});

describe('beginProblem', () => {
  it.each([
    [false, false, undefined],
    [false, true, 'foreign'],
    [true, false, 'held'],
    [true, true, 'held'],
  ] as const)('marker held %s, collection exists %s → %s', (held, exists, problem) => {
    expect(beginProblem('a__incoming', held, new Map(exists ? [['a__incoming', 'U']] : []))).toBe(problem);
  });
});

describe('planRecovery', () => {
  const names = ['a__incoming', 'a__dryrun', 'b__incoming', 'b__dryrun'];

  it('nothing recorded, nothing there: nothing to do', () => {
    expect(planRecovery([], [], new Map(), names)).toEqual([]);
  });

  it('a crashed load (marker, no commit) is rolled back: its own collection dropped, its markers forgotten', () => {
    expect(planRecovery([marker('a__incoming', 's', 'U')], [], new Map([['a__incoming', 'U']]), names)).toEqual([
      { kind: 'drop', collection: 'a__incoming' },
      { kind: 'forget', session: 's' },
    ]);
  });

  it('a marker whose collection was replaced by someone else drops nothing and reports it as not ours', () => {
    expect(planRecovery([marker('a__incoming', 's', 'U')], [], new Map([['a__incoming', 'OTHER']]), names)).toEqual([
      { kind: 'foreign', collection: 'a__incoming' },
      { kind: 'forget', session: 's' },
    ]);
  });

  it('a marker that crashed before recording its UUID owns the collection under its name', () => {
    expect(planRecovery([marker('a__incoming', 's', null)], [], new Map([['a__incoming', 'ANY']]), names)).toEqual([
      { kind: 'drop', collection: 'a__incoming' },
      { kind: 'forget', session: 's' },
    ]);
  });

  it('a marker whose collection is already gone is just forgotten', () => {
    expect(planRecovery([marker('a__incoming', 's', 'U')], [], new Map(), names)).toEqual([{ kind: 'forget', session: 's' }]);
  });

  it('a crashed commit rolls forward: done entries stay, pending ones are renamed, nothing is dropped', () => {
    const b = { live: 'b', incoming: 'b__incoming', uuid: 'V' };
    const steps = planRecovery(
      [marker('a__incoming', 's', 'U'), marker('b__incoming', 's', 'V')],
      [commit('s', [entry, b])],
      new Map([
        ['a', 'U'],
        ['b', 'OLD'],
        ['b__incoming', 'V'],
      ]),
      names,
    );
    expect(steps).toEqual([
      { kind: 'done', live: 'a' },
      { kind: 'finish', record: 'commit:s', entry: b, copied: [] },
      { kind: 'forget', session: 's' },
    ]);
  });

  it('a crashed truncate commit rolls forward from its record: copied entries are done once their incoming is gone', () => {
    const a = { ...entry, method: 'copy' } as const;
    const b = { live: 'b', incoming: 'b__incoming', uuid: 'V', method: 'copy' } as const;
    const c = { live: 'c', incoming: 'c__incoming', uuid: 'W', method: 'copy' } as const;
    const record = { ...commit('s', [a, b, c]), copied: ['a', 'b'] };
    // a: copied and dropped; b: copied, incoming not yet dropped; c: not copied yet. Live UUIDs never change.
    const observed = new Map([
      ['a', 'LA'],
      ['b', 'LB'],
      ['b__incoming', 'V'],
      ['c', 'LC'],
      ['c__incoming', 'W'],
    ]);
    expect(planRecovery([], [record], observed, names)).toEqual([
      { kind: 'done', live: 'a' },
      { kind: 'finish', record: 'commit:s', entry: b, copied: ['a', 'b'] },
      { kind: 'finish', record: 'commit:s', entry: c, copied: ['a', 'b'] },
      { kind: 'forget', session: 's' },
    ]);
    // c's incoming gone without the record saying it was copied: lost, and the record is kept.
    expect(planRecovery([], [record], new Map([['c', 'LC']]), names)).toContainEqual({ kind: 'lost', live: 'c', incoming: 'c__incoming' });
    expect(planRecovery([], [record], new Map([['c', 'LC']]), names)).not.toContainEqual({ kind: 'forget', session: 's' });
  });

  it('a recorded commit with a lost collection keeps its record (no forget), while other sessions are still cleaned', () => {
    const steps = planRecovery([marker('b__incoming', 't', 'W')], [commit('s')], new Map([['b__incoming', 'W']]), names);
    expect(steps).toEqual([
      { kind: 'lost', live: 'a', incoming: 'a__incoming' },
      { kind: 'drop', collection: 'b__incoming' },
      { kind: 'forget', session: 't' },
    ]);
  });

  it('a collection under a staging name without a marker is reported, never dropped', () => {
    expect(
      planRecovery(
        [],
        [],
        new Map([
          ['a__dryrun', 'X'],
          ['unrelated', 'Y'],
        ]),
        names,
      ),
    ).toEqual([{ kind: 'foreign', collection: 'a__dryrun' }]);
  });

  it('never drops a collection it does not own, over every combination of marker, commit and observation', () => {
    const uuids = [undefined, 'U', 'OTHER'] as const;
    for (const markerUuid of ['U', null] as const)
      for (const withCommit of [false, true])
        for (const incoming of uuids)
          for (const live of uuids) {
            const observed = new Map<string, string>();
            if (incoming !== undefined) observed.set('a__incoming', incoming);
            if (live !== undefined) observed.set('a', live);
            const steps = planRecovery([marker('a__incoming', 's', markerUuid)], withCommit ? [commit('s')] : [], observed, names);
            for (const step of steps) {
              if (step.kind === 'drop') {
                expect(withCommit).toBe(false);
                expect(markerUuid === null || incoming === markerUuid).toBe(true);
              }
              if (step.kind === 'finish') expect(incoming).toBe('U');
            }
          }
  });
});

describe('incomingOptions', () => {
  it('copies every option the library knows', () => {
    const options = Object.fromEntries(
      COPIED_COLLECTION_OPTIONS.map((k) => [k, k === 'clusteredIndex' ? { key: { _id: 1 }, unique: true, v: 2 } : `${k}-value`]),
    );
    const out = incomingOptions('a', { name: 'a', type: 'collection', options }, false)._unsafeUnwrap();
    expect(out).toEqual({ ...options, clusteredIndex: { key: { _id: 1 }, unique: true } });
  });

  it.each([
    [{ name: 'a', type: 'view', options: { viewOn: 'b' } }, false, 'is a view'],
    [{ name: 'a', type: 'timeseries', options: { timeseries: {} } }, false, 'is a timeseries'],
    [{ name: 'a', type: 'collection', options: { encryptedFields: {} } }, false, '`encryptedFields`'],
    [{ name: 'a', type: 'collection', options: {} }, true, 'sharded'],
    [undefined, true, 'sharded'],
  ] as const)('refuses %o (sharded %s): %s', (live, sharded, words) => {
    const r = incomingOptions('a', live, sharded);
    expect(r._unsafeUnwrapErr().code).toBe('INVALID_ARGUMENT');
    expect(r._unsafeUnwrapErr().message).toContain(words);
  });

  it('a live collection that does not exist yet gives plain options', () => {
    expect(incomingOptions('a', undefined, false)._unsafeUnwrap()).toEqual({});
  });
});

describe('retriedInsertDuplicates', () => {
  it.each([
    [
      {
        writeErrors: [
          { index: 0, code: 11000 },
          { index: 3, code: 11000 },
        ],
      },
      4,
      [0, 3],
    ],
    [{ writeErrors: [{ err: { index: 1, code: 11000 } }] }, 2, [1]],
    [
      {
        writeErrors: [
          { index: 0, code: 11000 },
          { index: 1, code: 121 },
        ],
      },
      2,
      undefined,
    ],
    [{ writeErrors: [{ index: 5, code: 11000 }] }, 2, undefined],
    [{ writeErrors: [{ code: 11000 }] }, 2, undefined],
    [{ writeErrors: [] }, 2, undefined],
    [{ code: 11000 }, 2, undefined],
    [null, 2, undefined],
  ] as const)('%o of a batch of %i → %o', (error, n, out) => {
    expect(retriedInsertDuplicates(error, n)).toEqual(out);
  });
});

describe('trustedDigests', () => {
  it.each([
    [{ _id: 'a' }, undefined, true],
    [{ _id: 'a', runId: 'r', through: 10 }, 10, true],
    [{ _id: 'a', runId: 'r', through: 10 }, 11, true],
    [{ _id: 'a', runId: 'r', through: 10 }, 9, false],
    [{ _id: 'a', runId: 'r', through: 10 }, undefined, false],
    // Overwritten by run r, not committed yet: the writer it kept decides (`old` is at 5).
    [{ _id: 'a', runId: 'r', through: 10, lastCommitted: { runId: 'old', through: 5 } }, 9, true],
    [{ _id: 'a', runId: 'r', through: 10, lastCommitted: { runId: 'old', through: 6 } }, 9, false],
    [{ _id: 'a', runId: 'r', through: 10, lastCommitted: {} }, undefined, true],
    [{ _id: 'a', runId: 'r', through: 10, lastCommitted: null }, 9, false],
  ] as const)('%o with the run at %s → %s', (record, evaluated, trusted) => {
    const runs = new Map([['old', 5], ...(evaluated === undefined ? [] : [['r', evaluated] as const])]);
    expect(trustedDigests([record], runs).has('a')).toBe(trusted);
  });

  it('asks for the checkpoints of the writers and of the writers kept', () => {
    expect(
      writerRuns([
        { _id: 'a', runId: 'r', through: 1, lastCommitted: { runId: 'old', through: 1 } },
        { _id: 'b' },
        { _id: 'c', runId: 'r' },
      ]),
    ).toEqual(['r', 'old']);
  });
});

describe('keptWriters: an overwrite keeps the committed writer until its own batch is committed', () => {
  /** `record` once `writer` overwrote it, as the sink writes it. */
  const overwrite = (record: DocumentRecord, writer: Required<RecordWriter>, runs: ReadonlyMap<string, number>): DocumentRecord => ({
    _id: record._id,
    ...writer,
    lastCommitted: keptWriters([record], runs).get(record._id) ?? null,
  });
  const trusted = (record: DocumentRecord, runs: ReadonlyMap<string, number>): boolean => trustedDigests([record], runs).has(record._id);

  it('forced runs cut short after writing a record an earlier run committed leave it trusted, whatever their number', () => {
    const runs = new Map([['first', 60]]);
    let record: DocumentRecord = { _id: 'd', runId: 'first', through: 20 };
    // Forced run b writes d in the part of its batch that committed, and dies before its checkpoint (evaluated 20) is saved.
    record = overwrite(record, { runId: 'b', through: 20 }, runs);
    expect(record.lastCommitted).toEqual({ runId: 'first', through: 20 });
    expect(trusted(record, runs)).toBe(true);
    // Forced run c, checkpointed at 20, does the same with its second batch: first is still the committed writer.
    runs.set('c', 20);
    record = overwrite(record, { runId: 'c', through: 40 }, runs);
    expect(record.lastCommitted).toEqual({ runId: 'first', through: 20 });
    expect(trusted(record, runs)).toBe(true);
    // c resumes and writes d again (the same batch): still first's, until c's checkpoint reaches it.
    record = overwrite(record, { runId: 'c', through: 40 }, runs);
    expect(record.lastCommitted).toEqual({ runId: 'first', through: 20 });
    runs.set('c', 40);
    expect(trusted(record, runs)).toBe(true);
    // From then on c is the committed writer a later overwrite keeps.
    record = overwrite(record, { runId: 'e', through: 10 }, runs);
    expect(record.lastCommitted).toEqual({ runId: 'c', through: 40 });
  });

  it('a record no checkpoint covers keeps nothing (its document is backfilled again); one from an older version keeps a writer that counts', () => {
    const runs = new Map([['b', 10]]);
    const kept = keptWriters(
      [{ _id: 'cut', runId: 'b', through: 20 }, { _id: 'cut-twice', runId: 'b', through: 20, lastCommitted: null }, { _id: 'legacy' }],
      runs,
    );
    expect(Object.fromEntries(kept)).toEqual({ cut: null, 'cut-twice': null, legacy: {} });
    expect(trusted({ _id: 'x', runId: 'n', through: 5, lastCommitted: kept.get('legacy')! }, runs)).toBe(true);
    expect(trusted({ _id: 'y', runId: 'n', through: 5, lastCommitted: kept.get('cut')! }, runs)).toBe(false);
  });
});

describe('splitForTransactions', () => {
  const d = (n: number, claims: number) =>
    doc(
      digest(n),
      Array.from({ length: claims }, (_, i) => claim(digest(n), `CVE-${i}`, 'p')),
    );
  const size = () => 10;

  it('keeps order, never splits a document, and never exceeds the limits unless one document alone does', () => {
    for (let maxClaims = 1; maxClaims <= 6; maxClaims += 1)
      for (const maxBytes of [5, 10, 25, 1000]) {
        const docs = [d(1, 2), d(2, 0), d(3, 5), d(4, 1), d(5, 3), d(6, 1)];
        const parts = splitForTransactions(docs, { maxClaims, maxBytes }, size);
        expect(parts.flat()).toEqual(docs);
        for (const part of parts) {
          const claims = part.reduce((n, x) => n + x.claims.length, 0);
          if (part.length > 1) {
            expect(claims).toBeLessThanOrEqual(maxClaims);
            expect(claims * 10).toBeLessThanOrEqual(maxBytes);
          }
        }
      }
  });

  it('an empty batch is one empty part (the checkpoint still commits)', () => {
    expect(splitForTransactions([], { maxClaims: 1, maxBytes: 1 }, size)).toEqual([[]]);
  });
});
