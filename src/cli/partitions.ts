/**
 * `backfill-kit partitions ensure|retention|attach|list|maintain` :
 * the scanner.artifact_boms partition jobs and their rollback.
 *
 * @module
 */
import { err, ok, safeTry, type Result } from 'neverthrow';
import { BackfillError } from '../errors.js';
import {
  DEFAULT_PARTITION_LOCK_TIMEOUT_MS,
  DEFAULT_PARTITION_MAX_CLOCK_SKEW_MS,
  DEFAULT_PARTITIONS_AHEAD,
  DEFAULT_PARTITIONS_BEHIND,
  DEFAULT_PARTITION_MAX_CREATE,
  DEFAULT_RETENTION_KEEP,
  DEFAULT_RETENTION_MODE,
  PARTITION_INTERVALS,
  PartitionManager,
  type PartitionInfo,
  type PartitionInterval,
  type RetentionReport,
} from '../partitions/index.js';
import { MAX_INTERVAL_COUNT } from '../partitions/defaults.js';
import { MAX_LOCK_TIMEOUT_MS } from '../_internals/milliseconds.js';
import {
  booleanFlag,
  choiceFlag,
  failed,
  instantFlag,
  intFlag,
  lockTimeoutFlag,
  pgFlag,
  stringFlag,
  type CommandContext,
  type CommandOutcome,
  type CommandRun,
  type CommandSpec,
  type FlagSpec,
  type FlagValues,
} from './command.js';
import { DRY_RUN_VAR, envTurnsOn, parseBoolean, PARTITION_DB_VARS } from './env.js';
import { EXIT_CODES } from './exit-codes.js';
import { bytes, counted, partlyCommitted, reworded } from './output.js';

/** `ensure` and `retention` plan from the clock, so they compare it with the database's. */
const CLOCK_SKEW_FLAG: Readonly<Record<string, FlagSpec>> = {
  'max-clock-skew-ms': {
    type: 'string',
    value: '<ms>',
    description:
      "Refuse (exit 7, nothing changed) when this host's clock and the database's differ by more than this; --now is never compared.",
    default: String(DEFAULT_PARTITION_MAX_CLOCK_SKEW_MS),
  },
};

const TABLE_FLAGS: Readonly<Record<string, FlagSpec>> = {
  table: { type: 'string', value: '<schema.table>', description: 'The range-partitioned parent table.', default: 'scanner.artifact_boms' },
  column: { type: 'string', value: '<column>', description: 'Its partition key (date, timestamp or timestamptz).', default: 'inserted_at' },
  interval: { type: 'string', value: `<${PARTITION_INTERVALS.join('|')}>`, description: 'Width of one partition.', default: 'month' },
  'lock-timeout-ms': {
    type: 'string',
    value: '<ms>',
    description: 'lock_timeout of every DDL statement.',
    default: String(DEFAULT_PARTITION_LOCK_TIMEOUT_MS),
  },
  now: {
    type: 'string',
    value: '<iso-date>',
    description: 'Act as if it were this instant (back-dated runs, rehearsals); UTC unless it has an offset.',
    defaultText: 'the current time',
  },
  pg: pgFlag(PARTITION_DB_VARS),
};

function manager(ctx: CommandContext): Result<PartitionManager, BackfillError> {
  return safeTry(function* () {
    const pool = yield* ctx.pgPool(PARTITION_DB_VARS);
    const interval = (yield* choiceFlag<PartitionInterval>(ctx.flags, 'interval', PARTITION_INTERVALS)) ?? 'month';
    const now = yield* instantFlag(ctx.flags, 'now');
    // Only ensure and retention have the flag; the other commands do not compare the clocks.
    const maxClockSkewMs = yield* intFlag(ctx.flags, 'max-clock-skew-ms', 1, MAX_LOCK_TIMEOUT_MS);
    return ok(
      new PartitionManager({
        pg: pool,
        table: stringFlag(ctx.flags, 'table') ?? 'scanner.artifact_boms',
        column: stringFlag(ctx.flags, 'column') ?? 'inserted_at',
        interval,
        lockTimeoutMs: (yield* lockTimeoutFlag(ctx.flags)) ?? DEFAULT_PARTITION_LOCK_TIMEOUT_MS,
        logger: ctx.logger,
        ...(now === undefined ? {} : { now }),
        ...(maxClockSkewMs === undefined ? {} : { maxClockSkewMs }),
      }),
    );
  });
}

/**
 * Builds the manager from the flags, runs one operation, always closes its
 * pool (even when an argument turns out bad half-way), and renders the result.
 */
async function* withManager<T, E extends BackfillError>(
  ctx: CommandContext,
  op: (m: PartitionManager) => PromiseLike<Result<T, E>>,
  render: (value: T) => CommandOutcome,
  committed?: (partial: T) => readonly string[],
): CommandRun {
  const m = yield* manager(ctx);
  let r: Result<T, E>;
  try {
    r = await op(m);
  } finally {
    await m.close();
  }
  if (r.isOk()) return render(r.value);
  const error = forCli(r.error);
  // What a run of many partitions committed before it failed stays committed: printed, and the fix line says so.
  const lines = committed !== undefined && error.partial !== undefined ? committed(error.partial as T) : [];
  return failed(lines.length === 0 ? error : partlyCommitted(error), lines);
}

/**
 * The library's words for what the command line names otherwise: a missing parent table's hint names its
 * `createParent` method, an interrupted run's points at `error.partial`, which the CLI prints before the error.
 */
function forCli(error: BackfillError): BackfillError {
  return reworded(error, (message) =>
    message
      .replace(/ Create it \(createParent\) or check the name\.$/, ' Create it first, or check --table (and which database --pg names).')
      .replace(
        / finished steps are listed in error\.partial\.$/,
        ' what it finished before the signal stays, printed above as "… before the failure" (the report, under --json).',
      ),
  );
}

const day = (d: Date | null): string => (d === null ? '-' : d.toISOString().slice(0, 10));

/**
 * A partition's bound: its day when it is at midnight UTC, as the managed
 * ones are, else its instant (`2026-10-01T03:00:00Z`, one made in another
 * time zone), which its day alone would show as a managed month's bound.
 */
function bound(d: Date | null): string {
  if (d === null) return '-';
  const iso = d.toISOString();
  return iso.endsWith('T00:00:00.000Z') ? iso.slice(0, 10) : iso.replace('.000Z', 'Z');
}

/**
 * Whether retention only plans: the second argument and `--[no-]dry-run` must not contradict each other, and an empty
 * argument (a script's unset variable) is refused rather than read as false. Neither given: a dry run.
 */
function retentionDryRun(positional: string | undefined, flag: FlagValues[string]): Result<boolean, BackfillError> {
  return safeTry(function* () {
    if (positional !== undefined && positional.trim() === '') {
      return err(
        new BackfillError(
          'INVALID_ARGUMENT',
          'the dry-run argument is empty (an unset variable?): pass true to print the plan, or false to apply it.',
        ),
      );
    }
    const fromArgument = positional === undefined ? undefined : yield* parseBoolean(positional, 'the dry-run argument');
    const fromFlag = typeof flag === 'boolean' ? flag : undefined;
    if (fromArgument !== undefined && fromFlag !== undefined && fromArgument !== fromFlag) {
      return err(
        new BackfillError(
          'INVALID_ARGUMENT',
          `the dry-run argument says ${positional} but --${fromFlag ? '' : 'no-'}dry-run says otherwise: give one of them. Nothing was changed.`,
        ),
      );
    }
    return ok(fromArgument ?? fromFlag ?? true);
  });
}

/**
 * The count, from the first argument (the runbook's scripts take it there)
 * or its flag. Both given and different is refused rather than one silently
 * winning: `retention 1 false --keep 12` would otherwise drop eleven of the
 * months the flag keeps. The flags have no `default` so that an absent one
 * can be told from a given one.
 */
function countArg(ctx: CommandContext, flag: string, fallback: number): Result<number, BackfillError> {
  return safeTry(function* () {
    const fromFlag = yield* intFlag(ctx.flags, flag, 0, MAX_INTERVAL_COUNT);
    const positional = ctx.positionals[0];
    if (positional === undefined) return ok(fromFlag ?? fallback);
    const fromArgument = Number(positional);
    if (!/^\d+$/.test(positional) || !(fromArgument <= MAX_INTERVAL_COUNT)) {
      return err(
        new BackfillError(
          'INVALID_ARGUMENT',
          `the count (first argument, or --${flag}) must be a whole number from 0 to ${MAX_INTERVAL_COUNT}, not ${JSON.stringify(positional)}.`,
        ),
      );
    }
    if (fromFlag !== undefined && fromFlag !== fromArgument) {
      return err(
        new BackfillError(
          'INVALID_ARGUMENT',
          `the count argument says ${fromArgument} but --${flag} says ${fromFlag}: give one of them. Nothing was changed.`,
        ),
      );
    }
    return ok(fromArgument);
  });
}

const ensure: CommandSpec = {
  group: 'partitions',
  name: 'ensure',
  summary: 'Create the current partition and the next ones (idempotent), moving rows out of the default partition.',
  args: '[ahead]',
  minArgs: 0,
  maxArgs: 1,
  replaces: "the partition runbook's monthly ensure job (scanner-artifact-boms-ensure-partitions.sh 1)",
  flags: {
    ...TABLE_FLAGS,
    ...CLOCK_SKEW_FLAG,
    ahead: {
      type: 'string',
      value: '<n>',
      description: 'Intervals after the current one to create (also the first argument).',
      // No default here: countArg must tell a given --ahead from none.
      defaultText: String(DEFAULT_PARTITIONS_AHEAD),
    },
    behind: {
      type: 'string',
      value: '<n>',
      description: 'Intervals before the current one to create.',
      default: String(DEFAULT_PARTITIONS_BEHIND),
    },
    'fill-gaps': {
      type: 'boolean',
      description:
        'Also create every missing partition between the oldest managed one and the window (off: retention’s drops stay dropped).',
      default: false,
    },
    'max-create': {
      type: 'string',
      value: '<n>',
      description: `The most partitions this run may create (1 to ${MAX_INTERVAL_COUNT}); a plan with more is refused and creates none.`,
      default: String(DEFAULT_PARTITION_MAX_CREATE),
    },
  },
  examples: [
    'PG_DSN="Host=db;Database=scanner;Username=ops;Password=…" backfill-kit partitions ensure 1',
    'backfill-kit partitions ensure --ahead 2 --json',
  ],
  async *run(ctx) {
    const ahead = yield* countArg(ctx, 'ahead', DEFAULT_PARTITIONS_AHEAD);
    const behind = (yield* intFlag(ctx.flags, 'behind', 0, MAX_INTERVAL_COUNT)) ?? DEFAULT_PARTITIONS_BEHIND;
    const maxCreate = (yield* intFlag(ctx.flags, 'max-create', 1, MAX_INTERVAL_COUNT)) ?? DEFAULT_PARTITION_MAX_CREATE;
    return yield* withManager(
      ctx,
      async (m) => {
        const progress = ctx.progress('ensure', 'partitions');
        const r = await m.ensure({
          ahead,
          behind,
          fillGaps: booleanFlag(ctx.flags, 'fill-gaps'),
          maxCreate,
          onProgress: (p) => progress.update(p.done, p.total, p.partition),
          signal: ctx.signal,
        });
        progress.done();
        return r;
      },
      (report) => ({
        exitCode: EXIT_CODES.OK.code,
        report,
        lines: [
          ...report.created.map(
            (c) =>
              `created ${c.name} [${day(c.from)}, ${day(c.to)})${c.rowsMovedFromDefault > 0 ? `, moved ${counted(c.rowsMovedFromDefault, 'row')} from the default partition` : ''}`,
          ),
          ...report.existing.map((e) => `exists  ${e.name} [${day(e.from)}, ${day(e.to)}) (${e.coveredBy})`),
          `${report.created.length} created, ${report.existing.length} already present.`,
        ],
      }),
      (partial) => partial.created.map((c) => `created ${c.name} [${day(c.from)}, ${day(c.to)}) before the failure`),
    );
  },
};

const retention: CommandSpec = {
  group: 'partitions',
  name: 'retention',
  summary:
    'Drop (or detach) partitions older than the kept window; a dry run by default. Only partitions that follow the naming rule are touched.',
  args: '[keep] [dry-run true|false]',
  minArgs: 0,
  maxArgs: 2,
  replaces: "the partition runbook's daily retention job (scanner-artifact-boms-retention.sh 12 true|false)",
  flags: {
    ...TABLE_FLAGS,
    ...CLOCK_SKEW_FLAG,
    keep: {
      type: 'string',
      value: '<n>',
      description: 'Whole intervals before the current one to keep (also the first argument).',
      // No default here: countArg must tell a given --keep from none.
      defaultText: String(DEFAULT_RETENTION_KEEP),
    },
    'dry-run': {
      type: 'boolean',
      description:
        'Print the plan and change nothing. Dropping or detaching takes false as the second argument or --no-dry-run; the environment can only force a dry run.',
      // No default here: run() must tell an explicit --dry-run from none, so it can refuse a contradicting positional.
      defaultText: 'true (--no-dry-run to turn off)',
      env: DRY_RUN_VAR,
    },
    mode: {
      type: 'string',
      value: '<drop|detach>',
      description: 'Drop expired partitions, or detach them and keep them as plain tables.',
      default: DEFAULT_RETENTION_MODE,
    },
    concurrently: {
      type: 'boolean',
      description: 'Detach with DETACH PARTITION … CONCURRENTLY where PostgreSQL allows it.',
      default: false,
    },
  },
  examples: ['backfill-kit partitions retention 12 true', 'backfill-kit partitions retention --keep 12 --no-dry-run --mode detach'],
  async *run(ctx) {
    const second = ctx.positionals[1];
    // DRY_RUN=1 also beats the positional false; DRY_RUN=0 never turns the dry run off.
    const forced = yield* envTurnsOn(DRY_RUN_VAR, ctx.env);
    const dryRun = forced || (yield* retentionDryRun(second, ctx.flags['dry-run']));
    const mode = (yield* choiceFlag(ctx.flags, 'mode', ['drop', 'detach'] as const)) ?? DEFAULT_RETENTION_MODE;
    const keep = yield* countArg(ctx, 'keep', DEFAULT_RETENTION_KEEP);
    return yield* withManager(
      ctx,
      async (m) => {
        const progress = ctx.progress('retention', 'partitions');
        const r = await m.retention({
          keep,
          dryRun,
          mode,
          concurrently: booleanFlag(ctx.flags, 'concurrently'),
          onProgress: (p) => progress.update(p.done, p.total, p.partition),
          signal: ctx.signal,
        });
        progress.done();
        return r;
      },
      (plan) => retentionOutcome(plan, envNote(ctx.env, forced, dryRun)),
      (partial) =>
        partial.candidates
          .filter((c) => c.done)
          .map((c) => `${partial.mode === 'drop' ? 'dropped' : 'detached'} ${c.name} [${day(c.from)}, ${day(c.to)}) before the failure`),
    );
  },
};

/** Why the environment did (or did not) decide the dry run, when it was set. */
function envNote(env: CommandContext['env'], forced: boolean, dryRun: boolean): string[] {
  const value = env[DRY_RUN_VAR];
  if (forced) return [`${DRY_RUN_VAR}=${value} in the environment forces a dry run; unset it to apply.`];
  if (value !== undefined && value !== '' && dryRun)
    return [`${DRY_RUN_VAR}=${value} in the environment does not turn the dry run off; pass false as the second argument or --no-dry-run.`];
  return [];
}

/** The lines a retention plan (or its result) prints. */
function retentionOutcome(plan: RetentionReport, notes: readonly string[]): CommandOutcome {
  const verb = plan.dryRun ? `would ${plan.mode}` : plan.mode === 'drop' ? 'dropped' : 'detached';
  return {
    exitCode: EXIT_CODES.OK.code,
    report: plan,
    lines: [
      `${plan.dryRun ? 'Dry run: ' : ''}cutoff ${plan.cutoff.toISOString()} (partitions ending on or before it expire).`,
      ...plan.candidates.map(
        (c) =>
          `${verb} ${c.name} [${day(c.from)}, ${day(c.to)}) ~${c.estimatedRows === null ? '? rows' : counted(c.estimatedRows, 'row')}, ${bytes(c.sizeBytes)}`,
      ),
      ...plan.ignored.map((i) => `ignored ${i.name}: ${i.reason}`),
      `${counted(plan.candidates.length, 'partition')} ${verb}${plan.dryRun ? ' (rerun with --no-dry-run, or false as the second argument, to apply)' : ''}.`,
      ...notes,
    ],
  };
}

const attach: CommandSpec = {
  group: 'partitions',
  name: 'attach',
  summary: 'Re-attach a restored partition table (bounds from its name), refusing rows outside the bounds.',
  args: '<schema.table_YYYY_MM>',
  minArgs: 1,
  maxArgs: 1,
  replaces: 'the rollback "ALTER TABLE scanner.artifact_boms ATTACH PARTITION scanner.artifact_boms_YYYY_MM FOR VALUES …"',
  flags: TABLE_FLAGS,
  examples: ['backfill-kit partitions attach scanner.artifact_boms_2025_03'],
  async *run(ctx) {
    return yield* withManager(
      ctx,
      (m) => m.attach(ctx.positionals[0]!, { signal: ctx.signal }),
      (a) => ({
        exitCode: EXIT_CODES.OK.code,
        report: a,
        lines: [
          a.alreadyAttached
            ? `${a.name} already is the partition [${day(a.from)}, ${day(a.to)}); nothing changed.`
            : `attached ${a.name} FOR VALUES FROM ('${day(a.from)}') TO ('${day(a.to)}')`,
          ...(a.rowsMovedFromDefault > 0 ? [`moved ${counted(a.rowsMovedFromDefault, 'row')} from the default partition`] : []),
          ...(a.indexesCreated.length > 0 ? [`indexes built: ${a.indexesCreated.join(', ')}`] : []),
        ],
      }),
    );
  },
};

function listLine(p: PartitionInfo): string {
  const flags = [
    p.isDefault ? 'default' : '',
    p.managed ? 'managed' : `unmanaged: ${p.reason ?? ''}`,
    p.detachPending ? 'detach pending' : '',
  ].filter((s) => s !== '');
  return `${p.schema}.${p.name}  ${p.isDefault ? 'DEFAULT' : `[${bound(p.from)}, ${bound(p.to)})`}  ~${p.estimatedRows === null ? '? rows' : counted(p.estimatedRows, 'row')}  ${bytes(p.sizeBytes)}  ${flags.join(', ')}`;
}

const list: CommandSpec = {
  group: 'partitions',
  name: 'list',
  summary: 'List every partition with its bounds, estimated rows, size and whether retention manages it.',
  args: '',
  minArgs: 0,
  maxArgs: 0,
  replaces: 'checking the partition set by hand in psql (\\d+ scanner.artifact_boms)',
  flags: TABLE_FLAGS,
  examples: ['backfill-kit partitions list --table scanner.artifact_boms --json'],
  async *run(ctx) {
    return yield* withManager(
      ctx,
      (m) => m.list(),
      (all) => ({ exitCode: EXIT_CODES.OK.code, report: all, lines: all.length === 0 ? ['no partitions'] : all.map(listLine) }),
    );
  },
};

const maintain: CommandSpec = {
  group: 'partitions',
  name: 'maintain',
  summary: 'VACUUM (ANALYZE) and optionally REINDEX one partition.',
  args: '<partition>',
  minArgs: 1,
  maxArgs: 1,
  replaces: 'the hot-partition bloat steps VACUUM (ANALYZE) / REINDEX TABLE scanner.artifact_boms_YYYY_MM',
  flags: {
    ...TABLE_FLAGS,
    vacuum: { type: 'boolean', description: 'Run VACUUM.', default: true },
    analyze: { type: 'boolean', description: 'Run ANALYZE.', default: true },
    reindex: { type: 'boolean', description: 'Rebuild the indexes.', default: false },
    concurrently: { type: 'boolean', description: 'REINDEX … CONCURRENTLY, so writes continue.', default: true },
  },
  examples: ['backfill-kit partitions maintain artifact_boms_2026_11 --reindex'],
  async *run(ctx) {
    const options = {
      vacuum: booleanFlag(ctx.flags, 'vacuum'),
      analyze: booleanFlag(ctx.flags, 'analyze'),
      reindex: booleanFlag(ctx.flags, 'reindex'),
      concurrently: booleanFlag(ctx.flags, 'concurrently'),
      signal: ctx.signal,
    };
    return yield* withManager(
      ctx,
      (m) => m.maintain(ctx.positionals[0]!, options),
      (x) => ({
        exitCode: EXIT_CODES.OK.code,
        report: x,
        lines: [
          ...(x.invalidIndexesDropped.length > 0
            ? [`dropped the INVALID indexes a failed REINDEX CONCURRENTLY had left: ${x.invalidIndexesDropped.join(', ')}`]
            : []),
          ...x.steps.map((s) => `${s.sql} (${s.seconds.toFixed(2)} s)`),
          `${x.partition}: ${bytes(x.sizeBytesBefore)} -> ${bytes(x.sizeBytesAfter)}`,
        ],
      }),
    );
  },
};

/** The `partitions` subcommands. */
export const partitionsCommands: readonly CommandSpec[] = [ensure, retention, attach, list, maintain];
