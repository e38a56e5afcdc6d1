import { seedOf, wholeNumber } from './options.js';
import { SeededRandom } from './random.js';

// Text that breaks naive pipelines: quotes, backslashes, tabs, newlines,
// CRs, non-ASCII, emoji (astral plane), and a literal backslash-u sequence
// that is *not* an escape once decoded.
const TRICKY = [
  'plain text',
  'say "hello"',
  'C:\\path\\to\\file',
  'tab\there',
  'line one\nline two',
  'carriage\r\nreturn',
  'Grüße, naïve café',
  '日本語のテキスト',
  'emoji 🚀🔥 and ZWJ 👩‍💻',
  'literal \\u0000 is just text',
  "single 'quotes' and `ticks`",
  '{"looks":"like json"}',
];
const ECOSYSTEMS = ['npm', 'pypi', 'maven', 'golang', 'nuget', 'cargo', 'deb', 'rpm'];
const SOURCES = ['ghsa', 'nvd', 'osv', 'redhat', 'debian', 'ubuntu', 'suse'];

function cve(r: SeededRandom): string {
  return `CVE-${r.int(2015, 2026)}-${r.int(1000, 99999)}`;
}

/** One seeded linkset record (as stored in `linksets.ndjson`). */
export interface LinksetRecord {
  readonly _id: string;
  readonly advisoryId: string;
  readonly source: string;
  readonly purls: readonly string[];
  readonly note: string;
  readonly confidence: number;
  readonly observedAt: string;
  readonly conflicts: readonly { field: string; values: readonly string[] }[];
}

/** One seeded advisory-chunk record (as stored in `advisory_chunks.ndjson`). */
export interface AdvisoryChunkRecord {
  readonly _id: { $oid: string };
  readonly advisoryId: string;
  readonly chunkIndex: number;
  readonly source: string;
  readonly text: string;
  readonly severity: string | null;
  readonly references: readonly string[];
}

/**
 * Yields `n` realistic linkset records, the same for the same seed. Strings
 * include quotes, backslashes, tabs, newlines, non-ASCII and emoji. `n` is a
 * whole number from 0 and `seed` one from 0 to 2^32 − 1; anything else is
 * refused at the call with `INVALID_ARGUMENT`.
 *
 * @example
 * ```ts
 * await writeDataset('ds.tar.zst', { members: { 'linksets.ndjson': generateLinksets(340, 7) } });
 * ```
 */
export function generateLinksets(n: number, seed = 1): Generator<LinksetRecord> {
  return linksets(wholeNumber(n, 'count', 0), seedOf(seed));
}

function* linksets(n: number, seed: number): Generator<LinksetRecord> {
  const r = new SeededRandom(seed);
  for (let i = 0; i < n; i++) {
    const eco = r.pick(ECOSYSTEMS);
    yield {
      _id: `ls-${String(i).padStart(7, '0')}-${r.hex(8)}`,
      advisoryId: cve(r),
      source: r.pick(SOURCES),
      purls: Array.from(
        { length: r.int(1, 3) },
        () => `pkg:${eco}/${r.pick(['lodash', 'requests', 'log4j-core', 'openssl', 'zlib'])}@${r.int(0, 9)}.${r.int(0, 20)}.${r.int(0, 9)}`,
      ),
      note: r.pick(TRICKY),
      confidence: Math.round(r.next() * 1000) / 1000,
      observedAt: new Date(Date.UTC(2025, r.int(0, 11), r.int(1, 28), r.int(0, 23), r.int(0, 59), r.int(0, 59))).toISOString(),
      conflicts: r.next() < 0.3 ? [{ field: 'severity', values: [r.pick(['low', 'medium', 'high']), r.pick(['critical', 'high'])] }] : [],
    };
  }
}

/**
 * Yields `n` realistic advisory-chunk records whose `_id` is MongoDB
 * extended JSON (`{"$oid": "…"}`), the same for the same seed. `n` and
 * `seed` are checked as {@link generateLinksets} checks them.
 *
 * @example
 * ```ts
 * const chunks = [...generateAdvisoryChunks(1200, 42)];
 * ```
 */
export function generateAdvisoryChunks(n: number, seed = 2): Generator<AdvisoryChunkRecord> {
  return advisoryChunks(wholeNumber(n, 'count', 0), seedOf(seed));
}

function* advisoryChunks(n: number, seed: number): Generator<AdvisoryChunkRecord> {
  const r = new SeededRandom(seed);
  for (let i = 0; i < n; i++) {
    yield {
      _id: { $oid: `${(0x65000000 + i).toString(16)}${r.hex(16)}` },
      advisoryId: cve(r),
      chunkIndex: r.int(0, 12),
      source: r.pick(SOURCES),
      text: `${r.pick(TRICKY)} — ${r.pick(TRICKY)}`,
      severity: r.next() < 0.2 ? null : r.pick(['low', 'medium', 'high', 'critical']),
      references: Array.from({ length: r.int(0, 3) }, () => `https://example.org/advisories/${r.hex(10)}`),
    };
  }
}
