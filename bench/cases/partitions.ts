/**
 * `partitions` case: `ensure` creating 120 monthly partitions against
 * pg_partman's `create_parent` + `run_maintenance` for the same 120 in the
 * same run; then `list()` and a retention dry run over 1,000 partitions,
 * with pg_partman's `show_partitions` on its own 1,000 as the list baseline.
 * Uses BACKFILL_KIT_PG_URL (default postgres://postgres@127.0.0.1:5432/postgres)
 * and a scratch database it creates and drops. BENCH_RUNS sets repetitions;
 * BENCH_PARTITIONS and BENCH_LIST_PARTITIONS the two sizes.
 */
import pg from 'pg';
import { PartitionManager } from '../../src/partitions/index.js';
import type { PgClientLike } from '../../src/_internals/pg.js';
import { envInt, measure, median, report, withScratchDatabase } from '../lib.js';

const RUNS = envInt('BENCH_RUNS', 3);
const N_ENSURE = envInt('BENCH_PARTITIONS', 120);
const N_LIST = envInt('BENCH_LIST_PARTITIONS', 1000);

const seedShape = (table: string): string => `
  CREATE TABLE scanner.${table} (
    build_id text NOT NULL, canonical_bom_sha256 text NOT NULL, payload_digest text,
    inserted_at timestamptz NOT NULL, PRIMARY KEY (build_id, inserted_at)
  ) PARTITION BY RANGE (inserted_at);
  CREATE INDEX ${table}_sha_idx ON scanner.${table} (canonical_bom_sha256)`;

async function main(): Promise<void> {
  await withScratchDatabase('partitions', measureAll);
}

async function measureAll(url: string): Promise<void> {
  const pool = new pg.Pool({ connectionString: url, max: 4 });
  // DROP DATABASE … WITH (FORCE) at the end ends idle pooled sessions.
  pool.on('error', () => undefined);
  // pg_partman computes months in the session time zone; pin it to UTC like ours.
  const session = new pg.Client({ connectionString: url, options: '-c TimeZone=UTC' });
  session.on('error', () => undefined);
  try {
    await session.connect();
    await session.query('CREATE SCHEMA scanner');
    const partman = await session
      .query(
        "CREATE SCHEMA partman; CREATE EXTENSION pg_partman SCHEMA partman; SELECT extversion FROM pg_extension WHERE extname = 'pg_partman'",
      )
      .then((r) => (r as unknown as pg.QueryResult<{ extversion: string }>[])[2]?.rows[0]?.extversion ?? '')
      .catch(() => '');
    const havePartman = partman.startsWith('4.');
    if (!havePartman) console.error(`[partitions] pg_partman 4.x not available (${partman || 'none'}); baselines skipped`);
    const now = new Date();

    // 1. ensure N monthly partitions vs pg_partman create_parent + run_maintenance.
    // Runs alternate (ours, theirs, theirs, ours, …) so machine drift hits both alike.
    for (const variant of ['plain', 'with default partition'] as const) {
      const tag = variant === 'plain' ? 'p' : 'd';
      const ours: number[] = [];
      const theirs: number[] = [];
      let peak = 0;
      const runOurs = async (run: number): Promise<void> => {
        const t = `ours_${run}_${tag}`;
        await session.query(seedShape(t));
        if (variant !== 'plain') await session.query(`CREATE TABLE scanner.${t}_default PARTITION OF scanner.${t} DEFAULT`);
        const m = new PartitionManager({ pg: pool, table: `scanner.${t}`, column: 'inserted_at', now });
        const r = await measure(async () => (await m.ensure({ ahead: N_ENSURE - 1 }))._unsafeUnwrap());
        if (r.value.created.length !== N_ENSURE) throw new Error(`ensure created ${r.value.created.length}, expected ${N_ENSURE}`);
        ours.push(r.seconds);
        peak = Math.max(peak, r.peakRssMiB);
        await session.query(`DROP TABLE scanner.${t}`);
      };
      const runTheirs = async (run: number): Promise<void> => {
        const t = `pm_${run}_${tag}`;
        await session.query(seedShape(t));
        const t0 = performance.now();
        // p_start_partition = this month and premake N-1: exactly the same N months (plus its default partition).
        await session.query(
          `SELECT partman.create_parent('scanner.${t}', 'inserted_at', 'native', 'monthly', p_premake := ${N_ENSURE - 1}, p_start_partition := to_char(date_trunc('month', now()), 'YYYY-MM-DD'))`,
        );
        await session.query(`SELECT partman.run_maintenance('scanner.${t}')`);
        theirs.push((performance.now() - t0) / 1000);
        const { rows } = await session.query<{ n: number }>(
          `SELECT count(*)::int AS n FROM pg_inherits WHERE inhparent = 'scanner.${t}'::regclass`,
        );
        if (rows[0]?.n !== N_ENSURE + 1) throw new Error(`pg_partman made ${rows[0]?.n} partitions, expected ${N_ENSURE} + default`);
        await session.query(`DROP TABLE scanner.${t}; DELETE FROM partman.part_config WHERE parent_table = 'scanner.${t}'`);
      };
      for (let run = 0; run < RUNS; run++) {
        const order = run % 2 === 0 ? [runOurs, runTheirs] : [runTheirs, runOurs];
        for (const step of order) if (step === runOurs || havePartman) await step(run);
      }
      const base = havePartman ? median(theirs) : null;
      const s = median(ours);
      report({
        case: 'partitions',
        op: `ensure ${N_ENSURE} monthly (${variant})`,
        n: N_ENSURE,
        seconds: s,
        throughput: N_ENSURE / s,
        unit: 'partitions/s',
        peakRssMiB: peak,
        baseline: havePartman ? `pg_partman ${partman} create_parent + run_maintenance` : null,
        baselineSeconds: base,
        ratio: base === null ? null : base / s,
      });
    }

    // 2. list and retention dry run over N_LIST partitions (made at once: more than ensure's default maxCreate).
    await session.query(seedShape('big'));
    const big = new PartitionManager({ pg: pool, table: 'scanner.big', column: 'inserted_at', now });
    const made = await measure(async () => (await big.ensure({ behind: N_LIST - 10, ahead: 9, maxCreate: N_LIST }))._unsafeUnwrap());
    report({
      case: 'partitions',
      op: `ensure ${N_LIST} monthly (setup)`,
      n: N_LIST,
      seconds: made.seconds,
      throughput: N_LIST / made.seconds,
      unit: 'partitions/s',
      peakRssMiB: made.peakRssMiB,
      baseline: null,
      ratio: null,
    });

    let pmList: number | null = null;
    if (havePartman) {
      await session.query(seedShape('big_pm'));
      await session.query(
        `SELECT partman.create_parent('scanner.big_pm', 'inserted_at', 'native', 'monthly', p_premake := 9, p_start_partition := to_char(date_trunc('month', now()) - interval '${N_LIST - 10} months', 'YYYY-MM-DD'))`,
      );
      const times: number[] = [];
      for (let run = 0; run < RUNS + 2; run++) {
        const t0 = performance.now();
        const { rows } = await session.query("SELECT * FROM partman.show_partitions('scanner.big_pm')");
        times.push((performance.now() - t0) / 1000);
        if (rows.length !== N_LIST) throw new Error(`show_partitions returned ${rows.length}`);
      }
      pmList = median(times);
    }

    // Count round trips through a wrapper around one dedicated client.
    const client = await pool.connect();
    let trips = 0;
    const counted: PgClientLike = {
      query: (...a: unknown[]) => {
        trips += 1;
        return (client.query as (...x: unknown[]) => unknown)(...a);
      },
    };
    try {
      const lister = new PartitionManager({ pg: counted, table: 'scanner.big', column: 'inserted_at', now });
      const listTimes: number[] = [];
      let listPeak = 0;
      for (let run = 0; run < RUNS + 2; run++) {
        trips = 0;
        const r = await measure(async () => (await lister.list())._unsafeUnwrap());
        if (r.value.length !== N_LIST) throw new Error(`list returned ${r.value.length}`);
        listTimes.push(r.seconds);
        listPeak = Math.max(listPeak, r.peakRssMiB);
      }
      const listRoundTrips = trips;
      const ls = median(listTimes);
      report({
        case: 'partitions',
        op: `list ${N_LIST}`,
        n: N_LIST,
        seconds: ls,
        throughput: N_LIST / ls,
        unit: 'partitions/s',
        peakRssMiB: listPeak,
        baseline: pmList === null ? null : `pg_partman ${partman} show_partitions (names only)`,
        baselineSeconds: pmList,
        ratio: pmList === null ? null : pmList / ls,
        roundTrips: listRoundTrips,
      });

      const retTimes: number[] = [];
      let candidates = 0;
      for (let run = 0; run < RUNS + 2; run++) {
        trips = 0;
        const r = await measure(async () => (await lister.retention({ keep: 12, dryRun: true }))._unsafeUnwrap());
        retTimes.push(r.seconds);
        candidates = r.value.candidates.length;
      }
      const rs = median(retTimes);
      report({
        case: 'partitions',
        op: `retention dry run over ${N_LIST}`,
        n: N_LIST,
        seconds: rs,
        throughput: N_LIST / rs,
        unit: 'partitions/s',
        peakRssMiB: null,
        baseline: null,
        ratio: null,
        candidates,
        roundTrips: trips,
        note: 'pg_partman has no retention dry run to compare with',
      });
    } finally {
      client.release();
    }
  } finally {
    await session.end();
    await pool.end();
  }
}

await main();
