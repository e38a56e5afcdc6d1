/**
 * `backfill-kit index backfill`: the runbook's `cis490-index-backfill`, with
 * the same flags and the same rows, plus the checks it lacks (symbolic links
 * out of the root, one episode id on several hosts, index line length).
 *
 * @module
 */
import { readdir } from 'node:fs/promises';
import { resolve } from 'node:path';
import { BackfillError } from '../errors.js';
import {
  backfillIndex,
  DEFAULT_INDEX_BACKFILL_CONCURRENCY,
  DEFAULT_INDEX_MAX_LINE_BYTES,
  DEFAULT_INDEX_MAX_META_BYTES,
  formatIndexRow,
  type IndexBackfillReport,
} from '../index-backfill/index.js';
import { booleanFlag, failed, intFlag, ioStep, stringFlag, type CommandSpec } from './command.js';
import { EXIT_CODES } from './exit-codes.js';
import { counted } from './output.js';

/** Rows written (or, in a dry run, to be written) without `commit`: their tarball is corrupt, truncated or has no usable `meta.json`. */
const rowsWithoutCommit = (r: IndexBackfillReport): number => r.rows.filter((row) => row.commit === undefined).length;

/** What a row without commit means for the operator: the index is append-only, and a rerun skips an id it lists. */
function noCommitLine(n: number, dryRun: boolean): string {
  const rows = counted(n, 'row');
  return dryRun
    ? `${rows} would be appended without commit (see the warnings): fix or replace those tarballs (or raise --max-meta-bytes when a warning names it) before the real run. Once appended, a row stays: the index is append-only and a rerun skips an episode it already lists.`
    : `${rows} appended without commit (see the warnings). A rerun will not add the commit: the index is append-only and a rerun skips an episode it already lists. Fix or replace each tarball, then correct or remove its row in the index by hand.`;
}

function reportLines(r: IndexBackfillReport, index: string): string[] {
  const lines = [`scanned: ${r.scanned} already-indexed: ${r.alreadyIndexed} to-backfill: ${r.toBackfill}`];
  if (r.dryRun) {
    lines.push(...r.rows.slice(0, 5).map(formatIndexRow));
    if (r.rows.length > 5) lines.push(`... (${r.rows.length - 5} more)`);
  } else if (r.appended > 0) {
    lines.push(`backfilled ${counted(r.appended, 'row')} into ${index}`);
  }
  for (const w of r.warnings) lines.push(`warning ${w.code}: ${w.message}`);
  if (r.skipped > 0) lines.push(`${counted(r.skipped, 'tarball')} could not be read and got no row.`);
  const noCommit = rowsWithoutCommit(r);
  if (noCommit > 0) lines.push(noCommitLine(noCommit, r.dryRun));
  if (r.symlinksNotFollowed.length > 0)
    lines.push(
      `${r.symlinksNotFollowed.length} symbolic link${r.symlinksNotFollowed.length === 1 ? '' : 's'} out of the episodes root not followed (--follow-symlinks follows them).`,
    );
  if (r.duplicateEpisodes.length > 0)
    lines.push(
      `${r.duplicateEpisodes.length} episode id${r.duplicateEpisodes.length === 1 ? ' is' : 's are'} on more than one host: ${r.duplicateEpisodes.map((d) => d.episodeId).join(', ')}.`,
    );
  return lines;
}

/** How many of the root's host names the message lists. */
const HOSTS_LISTED = 10;

/**
 * Why `--host` names no host, when `root` holds no entry of that name (a
 * typo, the wrong case): the run scanned nothing and would succeed, and
 * that host's missing rows stay missing. The runbook's tool (and the
 * library, which keeps its output) says nothing then.
 */
async function noSuchHost(root: string, host: string): Promise<BackfillError | undefined> {
  const names = (await readdir(root)).sort();
  if (names.includes(host)) return undefined;
  const twin = names.find((n) => n.toLowerCase() === host.toLowerCase());
  const more = names.length > HOSTS_LISTED ? `, and ${names.length - HOSTS_LISTED} more` : '';
  const listed = names.length === 0 ? 'it holds none' : `hosts there: ${names.slice(0, HOSTS_LISTED).join(', ')}${more}`;
  const hint = twin === undefined ? '' : ` Did you mean ${twin}? Host names are case-sensitive.`;
  return new BackfillError(
    'INVALID_ARGUMENT',
    `--host ${JSON.stringify(host)} has no directory under ${root} (${listed}), so nothing was scanned.${hint}`,
    { context: { path: root } },
  );
}

/**
 * Anything the operator must look at makes the run exit non-zero, though
 * every good row was written: a row without commit (bad input data, and
 * permanent in an append-only index) first, then unreadable tarballs, links
 * not followed and ids on several hosts.
 */
function exitCodeOf(r: IndexBackfillReport): number {
  if (rowsWithoutCommit(r) > 0) return EXIT_CODES.DATA.code;
  if (r.skipped > 0 || r.symlinksNotFollowed.length > 0 || r.duplicateEpisodes.length > 0) return EXIT_CODES.REJECTS.code;
  return EXIT_CODES.OK.code;
}

const backfill: CommandSpec = {
  group: 'index',
  name: 'backfill',
  summary: 'Append the missing rows of an append-only index.jsonl from <episodes-root>/<host>/<id>.tar.zst files (sha256, size, commit).',
  args: '',
  minArgs: 0,
  maxArgs: 0,
  replaces: 'cis490-index-backfill --episodes-root … --index … [--host] [--dry-run]',
  flags: {
    'episodes-root': { type: 'string', value: '<dir>', description: 'Directory holding <host>/<episode>.tar.zst (required).' },
    index: { type: 'string', value: '<file>', description: 'The append-only index.jsonl (required; created when missing).' },
    host: { type: 'string', value: '<host_id>', description: 'Only backfill this host.' },
    'follow-symlinks': {
      type: 'boolean',
      description: 'Follow symbolic links that lead out of the episodes root (by default they are reported and not followed).',
      default: false,
    },
    'dry-run': {
      type: 'boolean',
      description: "Print what would be appended (the first 5 rows, as the runbook's tool does); write nothing.",
      default: false,
      env: 'DRY_RUN',
    },
    concurrency: {
      type: 'string',
      value: '<n>',
      description: 'Tarballs hashed at once.',
      default: String(DEFAULT_INDEX_BACKFILL_CONCURRENCY),
    },
    'require-hex-commit': { type: 'boolean', description: 'Accept a meta.json commit only when it is 40 hex digits.', default: false },
    'lock-path': {
      type: 'string',
      value: '<file>',
      description:
        'The advisory lock file (default: <index>.backfill.lock); give every backfill of one index the same one, e.g. when this user cannot create files beside the index.',
    },
    'max-index-line-bytes': {
      type: 'string',
      value: '<n>',
      description: 'Longest index.jsonl line read; a longer one stops the run before anything is appended.',
      default: String(DEFAULT_INDEX_MAX_LINE_BYTES),
    },
    'max-meta-bytes': {
      type: 'string',
      value: '<n>',
      description: 'Largest meta.json read for its commit; a larger one gives its row no commit, with a warning (exit 5).',
      default: String(DEFAULT_INDEX_MAX_META_BYTES),
    },
  },
  examples: [
    'sudo -u cis490 backfill-kit index backfill --episodes-root /var/lib/cis490/episodes --index /var/lib/cis490/index.jsonl --dry-run',
  ],
  async *run(ctx) {
    const root = stringFlag(ctx.flags, 'episodes-root');
    const index = stringFlag(ctx.flags, 'index');
    if (root === undefined || index === undefined) {
      return failed(
        new BackfillError(
          'INVALID_ARGUMENT',
          `--${root === undefined ? 'episodes-root' : 'index'} is required (see: backfill-kit index backfill --help)`,
        ),
      );
    }
    const host = stringFlag(ctx.flags, 'host');
    const lockPath = stringFlag(ctx.flags, 'lock-path');
    const progress = ctx.progress('index backfill', 'episodes');
    const result = await backfillIndex({
      episodesRoot: resolve(ctx.cwd, root),
      index: resolve(ctx.cwd, index),
      ...(host === undefined ? {} : { host }),
      ...(lockPath === undefined ? {} : { lockPath: resolve(ctx.cwd, lockPath) }),
      dryRun: booleanFlag(ctx.flags, 'dry-run'),
      followSymlinks: booleanFlag(ctx.flags, 'follow-symlinks'),
      concurrency: (yield* intFlag(ctx.flags, 'concurrency', 1, 256)) ?? DEFAULT_INDEX_BACKFILL_CONCURRENCY,
      requireHexCommit: booleanFlag(ctx.flags, 'require-hex-commit'),
      maxIndexLineBytes: (yield* intFlag(ctx.flags, 'max-index-line-bytes', 1)) ?? DEFAULT_INDEX_MAX_LINE_BYTES,
      maxMetaBytes: (yield* intFlag(ctx.flags, 'max-meta-bytes', 1)) ?? DEFAULT_INDEX_MAX_META_BYTES,
      onProgress: (p) => progress.update(p.done, p.total),
      signal: ctx.signal,
      logger: ctx.logger,
    });
    progress.done();
    if (result.isErr()) {
      const partial = result.error.partial;
      return failed(result.error, partial === undefined ? [] : ['The run stopped; so far:', ...reportLines(partial, index)]);
    }
    const r = result.value;
    if (host !== undefined && r.scanned === 0) {
      const missing = yield* ioStep(`--episodes-root ${root}`, noSuchHost(resolve(ctx.cwd, root), host));
      if (missing !== undefined) return failed(missing);
    }
    return { exitCode: exitCodeOf(r), report: r, lines: reportLines(r, index) };
  },
};

/** The `index` subcommands. */
export const indexCommands: readonly CommandSpec[] = [backfill];
