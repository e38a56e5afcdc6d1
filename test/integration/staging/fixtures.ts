/** Dataset builders for the staging integration tests. */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeDataset } from '../../../src/dataset/index.js';
import { PgStagingTarget, type StagingRow, type StagingSession } from '../../../src/staging/index.js';
import { generateAdvisoryChunks, generateLinksets } from '../../../src/testing/index.js';

export const TABLES = { 'linksets.ndjson': 'linksets_raw', 'advisory_chunks.ndjson': 'advisory_chunks_raw' } as const;

export function scratch(prefix = 'bk-staging-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export function sha256File(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

/** Runs a command and returns stdout, failing loudly. */
export function run(cmd: string, args: string[], input?: string): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', ...(input === undefined ? {} : { input }) });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${r.stderr}`);
  return r.stdout;
}

export interface HandMember {
  readonly name: string;
  /** The member's exact text, or its exact bytes (which need not be UTF-8). */
  readonly text: string | Buffer;
  /** `records` to claim in the manifest; default: the non-blank line count. */
  readonly records?: number;
  /** `sha256` to claim in the manifest; default: none listed. */
  readonly sha256?: string;
}

/**
 * Builds a `.tar.zst` with GNU tar and zstd (not with the library), with
 * `manifest.json` LAST, as `tar` puts it when told to. The manifest's record
 * counts and digests can be made to lie.
 */
export function handTarball(
  dir: string,
  file: string,
  members: readonly HandMember[],
  options: { omitFromManifest?: string[] } = {},
): string {
  const src = join(dir, `${file}.d`);
  mkdirSync(src, { recursive: true });
  for (const m of members) writeFileSync(join(src, m.name), m.text);
  const manifest = {
    schemaVersion: 1,
    name: 'hand-made',
    createdAt: '2025-12-07T14:24:45Z',
    members: members
      .filter((m) => !(options.omitFromManifest ?? []).includes(m.name))
      .map((m) => ({
        name: m.name,
        records: m.records ?? nonBlankLines(m.text),
        ...(m.sha256 === undefined ? {} : { sha256: m.sha256 }),
      })),
  };
  writeFileSync(join(src, 'manifest.json'), JSON.stringify(manifest, null, 2));
  const out = join(dir, file);
  run('sh', ['-c', `tar -C "$0" -cf - ${members.map((m) => `'${m.name}'`).join(' ')} manifest.json | zstd -q -f -o "$1"`, src, out]);
  return out;
}

/** Non-blank lines of `text` (bytes are counted as Latin-1, each byte one character). */
function nonBlankLines(text: string | Buffer): number {
  const lines = (typeof text === 'string' ? text : text.toString('latin1')).split('\n');
  return lines.filter((l) => l.trim().length > 0).length;
}

/** NDJSON text from objects. */
export function ndjson(values: readonly unknown[]): string {
  return values.map((v) => `${JSON.stringify(v)}\n`).join('');
}

/** Runs SQL and returns the rows (`TestDatabase.query`). */
type Query = (text: string) => Promise<Record<string, unknown>[]>;

/**
 * Creates `<schema>.linksets_raw` keyed by `linksets_key` with what a primary
 * key can carry besides its definition: comments on the key and its index,
 * and index storage options.
 */
export async function createKeyWithExtras(query: Query, schema: string): Promise<void> {
  await query(
    `CREATE SCHEMA ${schema}; CREATE TABLE ${schema}.linksets_raw (id text CONSTRAINT linksets_key PRIMARY KEY WITH (fillfactor = 70), raw jsonb NOT NULL)`,
  );
  await query(`COMMENT ON CONSTRAINT linksets_key ON ${schema}.linksets_raw IS 'ids as the feed spells them'`);
  await query(`COMMENT ON INDEX ${schema}.linksets_key IS 'looked up by the scanner'`);
}

/** The primary key of `table`: its name, comments, index name and options, replica identity and CLUSTER marks. */
export function primaryKeyExtras(query: Query, table: string): Promise<Record<string, unknown>[]> {
  return query(
    `SELECT k.conname, obj_description(k.oid, 'pg_constraint') AS "keyComment", obj_description(i.indexrelid, 'pg_class') AS "indexComment",
            x.relname, x.reloptions, i.indisreplident, i.indisclustered
       FROM pg_constraint k JOIN pg_index i ON i.indexrelid = k.conindid JOIN pg_class x ON x.oid = i.indexrelid
      WHERE k.conrelid = '${table}'::regclass AND k.contype = 'p'`,
  );
}

/**
 * A swap session on `<schema>.linksets_raw` (through a target of its own on
 * `url`) that has loaded one row, `new-1`, and not committed. Close the
 * target afterwards.
 */
export async function swapSessionWithOneRow(url: string, schema: string): Promise<{ target: PgStagingTarget; session: StagingSession }> {
  const target = new PgStagingTarget({ pg: url, schema, tables: ['linksets_raw'] });
  const session = (await target.begin({ strategy: 'swap', dryRun: false, tables: ['linksets_raw'] }))._unsafeUnwrap();
  async function* rows(): AsyncGenerator<StagingRow[]> {
    yield [{ id: 'new-1', raw: '{"_id":"new-1"}' }];
  }
  if ((await session.load('linksets_raw', rows()))._unsafeUnwrap() !== 1) throw new Error('the session did not load its one row');
  return { target, session };
}

/** Writes a dataset of `linksets` linksets and `chunks` advisory chunks, generated from `seed`, to `dir/name`. */
export async function smallDataset(dir: string, name: string, seed: number, linksets: number, chunks: number): Promise<string> {
  const path = join(dir, name);
  (
    await writeDataset(path, {
      members: { 'linksets.ndjson': generateLinksets(linksets, seed), 'advisory_chunks.ndjson': generateAdvisoryChunks(chunks, seed + 1) },
    })
  )._unsafeUnwrap();
  return path;
}
