/**
 * The staging target's own record of what it owns and how far a commit got,
 * and the pure decisions taken from it: whether a staging collection may be
 * created, dropped or renamed, and how a crashed import is recovered.
 *
 * Nothing here asks the server whether a collection "already exists" through
 * an error code: `create` of an existing collection succeeds on MongoDB 7.0+
 * and on any mongos. Decisions come from `listCollections` (names and
 * collection UUIDs) and from the marker documents the library writes.
 *
 * @module
 */

/**
 * A lock and ownership marker, one per staging collection, in the state
 * collection. Its `_id` is the staging collection's name, so inserting it is
 * the lock (a second import gets a duplicate key); `uuid` is the collection
 * the session created, so nothing else is ever dropped under its name.
 */
export interface StagingMarker {
  readonly _id: string;
  readonly kind: 'marker';
  readonly live: string;
  readonly session: string;
  /** The staging collection's UUID (hex), once created; `null` before. */
  readonly uuid: string | null;
  readonly startedAt: Date;
}

/**
 * How a recorded commit puts one incoming collection in place:
 * - `rename`: `renameCollection … dropTarget` over the live one (the `swap`
 *   strategy, and `truncate` into a collection that does not exist yet);
 * - `copy`: empty the live collection and `$merge` the incoming one into
 *   it, then drop the incoming one (the `truncate` strategy: the live
 *   collection keeps its UUID, options, indexes, cursors and change streams).
 */
export type CommitMethod = 'rename' | 'copy';

/** One collection of a recorded commit: put `incoming` (of this UUID) in place of `live`. */
export interface CommitEntry {
  readonly live: string;
  readonly incoming: string;
  readonly uuid: string;
  /** Absent in records of versions that only renamed. @defaultValue `'rename'` */
  readonly method?: CommitMethod;
}

/**
 * The commit point: written (majority) after every incoming collection is
 * complete and before anything live changes. Once it exists, the commit
 * rolls forward; before, it rolls back.
 */
export interface CommitRecord {
  readonly _id: string;
  readonly kind: 'commit';
  readonly session: string;
  readonly tables: readonly CommitEntry[];
  /** Live collections whose `copy` finished (the incoming one may still be there, to drop). */
  readonly copied?: readonly string[];
  readonly startedAt: Date;
}

/** Collection name → UUID (hex), as `listCollections` reports them. */
export type ObservedCollections = ReadonlyMap<string, string>;

/** Where one collection of a recorded commit stands. */
export type CommitEntryState = 'done' | 'pending' | 'lost';

/**
 * A rename within a database keeps the collection's UUID, so for a `rename`
 * entry `live` holding the incoming UUID means the rename was applied (even
 * if its reply was lost). A `copy` entry is done once the record lists it
 * in `copied` and its incoming collection is gone. Either way `incoming`
 * still holding the UUID means there is work left (a `copy` listed in
 * `copied` only drops it); anything else means someone else dropped or
 * replaced it.
 *
 * @example
 * ```ts
 * commitEntryState({ live: 'a', incoming: 'a__incoming', uuid: 'u1' }, new Map([['a', 'u1']])); // 'done'
 * commitEntryState({ live: 'a', incoming: 'a__incoming', uuid: 'u1', method: 'copy' }, new Map([['a', 'u0']]), ['a']); // 'done'
 * ```
 */
export function commitEntryState(entry: CommitEntry, observed: ObservedCollections, copied: readonly string[] = []): CommitEntryState {
  if (observed.get(entry.incoming) === entry.uuid) return 'pending';
  if (entry.method === 'copy') return copied.includes(entry.live) ? 'done' : 'lost';
  return observed.get(entry.live) === entry.uuid ? 'done' : 'lost';
}

/** Why a staging collection cannot be used by a new session. */
export type BeginProblem = 'held' | 'foreign';

/**
 * Whether a new session may create `name`: `held` when a marker (another
 * session's, or a crashed one's) already names it, `foreign` when a
 * collection of that name exists that the library did not create for this
 * session (a user's, or one left by a version without markers).
 *
 * @example
 * ```ts
 * beginProblem('a__incoming', false, new Map()); // undefined: free
 * beginProblem('a__incoming', true, new Map());  // 'held'
 * ```
 */
export function beginProblem(name: string, markerHeld: boolean, observed: ObservedCollections): BeginProblem | undefined {
  if (markerHeld) return 'held';
  return observed.has(name) ? 'foreign' : undefined;
}

/** One step of recovering what crashed imports left. */
export type RecoveryStep =
  /** A load crashed (no commit record): drop its staging collection (it is the session's own, by UUID). */
  | { readonly kind: 'drop'; readonly collection: string }
  /** A commit crashed after its commit point: finish this entry (rename, or copy and drop). */
  | { readonly kind: 'finish'; readonly record: string; readonly entry: CommitEntry; readonly copied: readonly string[] }
  /** Already in place before the crash: nothing to do. */
  | { readonly kind: 'done'; readonly live: string }
  /** A recorded commit's collection is gone from both names: it cannot be finished. */
  | { readonly kind: 'lost'; readonly live: string; readonly incoming: string }
  /** A collection under a staging name that the library does not own: left alone. */
  | { readonly kind: 'foreign'; readonly collection: string }
  /** Remove a session's markers and commit record. */
  | { readonly kind: 'forget'; readonly session: string };

/**
 * What to do about every marker and commit record found, in order: roll
 * each recorded commit forward, roll each other session back, and leave
 * collections the library does not own alone. `stagingNames` are the names
 * the target would use (`<c>__incoming`, `<c>__dryrun`).
 *
 * A marker without a UUID is a session that crashed between taking the lock
 * and recording its collection: a collection under its name is taken as the
 * one it created.
 *
 * @example
 * ```ts
 * planRecovery([marker], [], new Map([['a__incoming', 'u1']]), ['a__incoming', 'a__dryrun']);
 * // [{ kind: 'drop', collection: 'a__incoming' }, { kind: 'forget', session: 's1' }]
 * ```
 */
export function planRecovery(
  markers: readonly StagingMarker[],
  commits: readonly CommitRecord[],
  observed: ObservedCollections,
  stagingNames: readonly string[],
): RecoveryStep[] {
  const steps: RecoveryStep[] = [];
  const committed = new Set(commits.map((c) => c.session));
  const owned = new Set<string>();
  const stuck = new Set<string>();
  for (const commit of commits) {
    for (const entry of commit.tables) {
      owned.add(entry.incoming);
      const copied = commit.copied ?? [];
      const state = commitEntryState(entry, observed, copied);
      if (state === 'done') steps.push({ kind: 'done', live: entry.live });
      else if (state === 'pending') steps.push({ kind: 'finish', record: commit._id, entry, copied });
      else {
        steps.push({ kind: 'lost', live: entry.live, incoming: entry.incoming });
        stuck.add(commit.session);
      }
    }
  }
  const sessions = new Set<string>(committed);
  for (const m of markers) {
    sessions.add(m.session);
    if (committed.has(m.session)) {
      owned.add(m._id);
      continue;
    }
    const uuid = observed.get(m._id);
    if (uuid === undefined) continue;
    if (m.uuid === null || m.uuid === uuid) {
      owned.add(m._id);
      steps.push({ kind: 'drop', collection: m._id });
    }
  }
  for (const name of stagingNames) if (observed.has(name) && !owned.has(name)) steps.push({ kind: 'foreign', collection: name });
  // A commit that cannot be finished keeps its record, for the operator to see.
  for (const session of [...sessions].sort()) if (!stuck.has(session)) steps.push({ kind: 'forget', session });
  return steps;
}
