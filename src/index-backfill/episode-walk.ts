import type { Dirent } from 'node:fs';
import { readdir, realpath, stat } from 'node:fs/promises';
import { isAbsolute, join, relative, sep } from 'node:path';
import { err, ok, type Result } from 'neverthrow';
import { BackfillError, toBackfillError } from '../errors.js';
import { EPISODE_SUFFIX } from './defaults.js';
import { decodeFsName, fsPath } from './fs-name.js';
import { compareCodePoints } from './python-json.js';
import type { DuplicateEpisode, IndexBackfillWarning } from './types.js';

/** One `<root>/<host>/<id>.tar.zst` entry. Names are as {@link decodeFsName} reads them; open paths through {@link fsPath}. */
export interface EpisodeEntry {
  readonly host: string;
  readonly episodeId: string;
  /** The path as listed, under the root; named in rows' warnings. */
  readonly path: string;
  /** What to open: the link's target for a symlink that stays inside the root, else `path`. */
  readonly source: string;
}

/** How {@link listEpisodes} walks. */
export interface WalkOptions {
  /** Only this host's directory. */
  readonly host: string | undefined;
  /** Follow symbolic links that lead out of the root (by default they are refused). */
  readonly followSymlinks: boolean;
  readonly warn: (warning: IndexBackfillWarning) => void;
}

/** What the walk found. */
export interface EpisodeListing {
  /** In the runbook tool's order. */
  readonly episodes: readonly EpisodeEntry[];
  /** Links under the root that lead out of it and were not followed. */
  readonly symlinksNotFollowed: readonly string[];
  /** The root, resolved: the boundary links are checked against. */
  readonly realRoot: string;
}

/** A directory entry, its name read as the runbook's tool reads it. */
interface Entry {
  readonly name: string;
  readonly dirent: Dirent<Buffer>;
}

/** The entries of `dir`, sorted by name as Python's `sorted()` sorts them. */
async function listSorted(dir: string): Promise<Entry[]> {
  const dirents = await readdir(fsPath(dir), { withFileTypes: true, encoding: 'buffer' });
  return dirents.map((dirent) => ({ name: decodeFsName(dirent.name), dirent })).sort((a, b) => compareCodePoints(a.name, b.name));
}

const realPathOf = async (path: string): Promise<string> => decodeFsName(await realpath(fsPath(path), { encoding: 'buffer' }));

/** Whether the resolved path `real` lies inside the resolved directory `realRoot` (a name such as `..lab` inside it does). */
export function isInside(realRoot: string, real: string): boolean {
  const rel = relative(realRoot, real);
  return rel !== '..' && !rel.startsWith(`..${sep}`) && !isAbsolute(rel);
}

/** Where a symbolic link leads: its real path and whether that is inside `realRoot`; undefined when dangling. */
async function linkTarget(path: string, realRoot: string): Promise<{ real: string; inside: boolean } | undefined> {
  const real = await realPathOf(path).catch(() => undefined);
  if (real === undefined) return undefined;
  return { real, inside: isInside(realRoot, real) };
}

/**
 * Lists episode tarballs in the runbook tool's order: host directories
 * sorted, then `*.tar.zst` names sorted, both by code point like Python's
 * `sorted()`. Every entry whose name ends in `.tar.zst` counts, whatever its
 * type, as in the tool's `glob`; the episode id is the name without
 * `.tar.zst`. Names that are not valid UTF-8 are read as the tool reads them
 * (`surrogateescape`, see {@link decodeFsName}), so they stay distinct from
 * look-alikes spelled with U+FFFD.
 *
 * Unlike the tool, a symbolic link (host directory or tarball) whose target
 * lies outside the root is not followed unless `followSymlinks` is set: it
 * gets a `SYMLINK_OUTSIDE_ROOT` warning and is listed in
 * `symlinksNotFollowed`. Links that stay inside the root are followed.
 */
export async function listEpisodes(root: string, options: WalkOptions): Promise<Result<EpisodeListing, BackfillError>> {
  const { host, followSymlinks, warn } = options;
  let hosts: Entry[];
  let realRoot: string;
  try {
    hosts = await listSorted(root);
    realRoot = await realPathOf(root);
  } catch (e) {
    const code = (e as { code?: string }).code;
    if (
      code === 'ENOENT' ||
      (code === 'ENOTDIR' &&
        !(await stat(root).then(
          () => true,
          () => false,
        )))
    ) {
      return err(
        new BackfillError('EPISODES_ROOT_MISSING', `no episodes dir at ${root}; check --episodes-root.`, {
          cause: e,
          context: { path: root },
        }),
      );
    }
    return err(toBackfillError(e, 'IO_ERROR', { path: root }));
  }
  const symlinksNotFollowed: string[] = [];
  /** For a link: the path to open, or why there is none (refused: outside the root; dangling: no target). */
  const follow = async (path: string, what: string): Promise<{ source: string } | 'refused' | 'dangling'> => {
    const target = await linkTarget(path, realRoot);
    if (target === undefined) return 'dangling';
    if (target.inside) return { source: target.real };
    if (followSymlinks) return { source: path };
    symlinksNotFollowed.push(path);
    warn({
      code: 'SYMLINK_OUTSIDE_ROOT',
      path,
      message: `${path}: a symbolic link to ${target.real}, outside the episodes root ${realRoot}; ${what} not followed. Move it under the root, or pass followSymlinks (--follow-symlinks) if the link is meant.`,
    });
    return 'refused';
  };

  const episodes: EpisodeEntry[] = [];
  for (const hostEntry of hosts) {
    if (host && hostEntry.name !== host) continue;
    const hostDir = join(root, hostEntry.name);
    if (hostEntry.dirent.isSymbolicLink()) {
      const target = await follow(hostDir, 'the host directory was');
      // Path.is_dir() follows links and is false when the target is gone.
      if (
        typeof target !== 'object' ||
        !(await stat(fsPath(hostDir)).then(
          (s) => s.isDirectory(),
          () => false,
        ))
      )
        continue;
    } else if (!hostEntry.dirent.isDirectory()) continue;
    let files: Entry[];
    try {
      files = await listSorted(hostDir);
    } catch (e) {
      warn({
        code: 'IO_ERROR',
        path: hostDir,
        message: `${hostDir}: cannot list the host directory (${(e as Error).message}); its episodes were not scanned.`,
      });
      continue;
    }
    for (const file of files) {
      if (!file.name.endsWith(EPISODE_SUFFIX)) continue;
      const path = join(hostDir, file.name);
      let source = path;
      if (file.dirent.isSymbolicLink()) {
        const target = await follow(path, 'the tarball was');
        if (target === 'refused') continue;
        // A dangling link stays listed: opening it fails, and the run reports it unreadable.
        if (target !== 'dangling') source = target.source;
      }
      episodes.push({ host: hostEntry.name, episodeId: file.name.slice(0, -EPISODE_SUFFIX.length), path, source });
    }
  }
  return ok({ episodes, symlinksNotFollowed, realRoot });
}

/** Episode ids found on more than one host, in listing order, with whether the index already has a row for each. */
export function findDuplicateEpisodes(episodes: readonly EpisodeEntry[], indexed: ReadonlySet<string>): DuplicateEpisode[] {
  const byId = new Map<string, EpisodeEntry[]>();
  for (const e of episodes) {
    const list = byId.get(e.episodeId);
    if (list === undefined) byId.set(e.episodeId, [e]);
    else list.push(e);
  }
  const duplicates: DuplicateEpisode[] = [];
  for (const [episodeId, entries] of byId) {
    if (entries.length < 2) continue;
    duplicates.push({
      episodeId,
      hosts: entries.map((e) => e.host),
      paths: entries.map((e) => e.path),
      alreadyIndexed: indexed.has(episodeId),
    });
  }
  return duplicates;
}
