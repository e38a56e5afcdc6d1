import type { Dirent } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { err, ok, type Result } from 'neverthrow';
import { BackfillError, toBackfillError } from '../errors.js';
import { EPISODE_SUFFIX } from './defaults.js';
import { compareCodePoints } from './python-json.js';
import type { IndexBackfillWarning } from './types.js';

/** One `<root>/<host>/<id>.tar.zst` entry. */
export interface EpisodeEntry {
  readonly host: string;
  readonly episodeId: string;
  readonly path: string;
}

const byName = (a: Dirent, b: Dirent): number => compareCodePoints(a.name, b.name);

async function isDirectory(path: string, entry: Dirent): Promise<boolean> {
  if (entry.isDirectory()) return true;
  if (!entry.isSymbolicLink()) return false;
  // Path.is_dir() follows symlinks and is false when the target is gone.
  return stat(path).then((s) => s.isDirectory(), () => false);
}

/**
 * Lists episode tarballs in the seed's order: host directories sorted, then
 * `*.tar.zst` names sorted, both by code point like Python's `sorted()`.
 * Every entry whose name ends in `.tar.zst` counts, whatever its type, as in
 * the seed's `glob`; the episode id is the name without `.tar.zst`.
 */
export async function listEpisodes(
  root: string,
  host: string | undefined,
  warn: (warning: IndexBackfillWarning) => void,
): Promise<Result<EpisodeEntry[], BackfillError>> {
  let hosts: Dirent[];
  try {
    hosts = await readdir(root, { withFileTypes: true });
  } catch (e) {
    const code = (e as { code?: string }).code;
    if (code === 'ENOENT' || code === 'ENOTDIR' && !(await stat(root).then(() => true, () => false))) {
      return err(new BackfillError('EPISODES_ROOT_MISSING', `no episodes dir at ${root}; check --episodes-root.`, { cause: e, context: { path: root } }));
    }
    return err(toBackfillError(e, 'IO_ERROR', { path: root }));
  }
  const episodes: EpisodeEntry[] = [];
  for (const hostEntry of hosts.sort(byName)) {
    if (host && hostEntry.name !== host) continue;
    const hostDir = join(root, hostEntry.name);
    if (!(await isDirectory(hostDir, hostEntry))) continue;
    let files: Dirent[];
    try {
      files = await readdir(hostDir, { withFileTypes: true });
    } catch (e) {
      warn({ code: 'IO_ERROR', path: hostDir, message: `${hostDir}: cannot list the host directory (${(e as Error).message}); its episodes were not scanned.` });
      continue;
    }
    for (const file of files.sort(byName)) {
      if (!file.name.endsWith(EPISODE_SUFFIX)) continue;
      episodes.push({ host: hostEntry.name, episodeId: file.name.slice(0, -EPISODE_SUFFIX.length), path: join(hostDir, file.name) });
    }
  }
  return ok(episodes);
}
