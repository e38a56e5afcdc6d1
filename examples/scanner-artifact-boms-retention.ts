// Replaces the partition runbook's retention step
// (`devops/scripts/scanner-artifact-boms-retention.sh 12 true`), with the same arguments.
//
//   PG_DSN="Host=…;Database=…;Username=…;Password=…" npx tsx examples/scanner-artifact-boms-retention.ts 12 true
//
// Arguments (these two only): months to keep before the current one (default 12), and dry run
// (`true`, the default, only prints the plan; `false` drops). RETENTION_MODE=detach
// keeps expired partitions as plain tables instead; DRY_RUN=1 forces a dry run. Only tables named
// scanner.artifact_boms_YYYY_MM with exactly that month's bounds are ever touched.
import { PartitionManager } from '../src/partitions/index.js';
import { pgDsnToUrl } from '../src/_internals/pg-dsn.js';
import { answerHelp, reportStdoutFailure } from '../src/_internals/script-stdout.js';

// A reader that stops early (`| head -1`) is no failure; stdout that cannot be written (a full disk) is, and says so.
reportStdoutFailure('scanner-artifact-boms-retention');

const args = process.argv.slice(2);
const USAGE =
  'usage: scanner-artifact-boms-retention.ts [months-to-keep] [true|false] (defaults 12 true, a dry run; settings in the environment: PG_DSN, RETENTION_MODE=detach, DRY_RUN=1, PARTITION_TABLE, PARTITION_COLUMN)';
answerHelp(args, USAGE);
const [keepArg = '12', dryArg = 'true'] = args;
const keep = Number(keepArg);
// An argument past the two (`--mode detach`, as backfill-kit takes it) is refused: ignored, the run would drop.
if (!/^\d+$/.test(keepArg) || !['true', 'false'].includes(dryArg) || args.length > 2) {
  console.error(`${USAGE}; got ${JSON.stringify(args)}`);
  process.exit(2);
}
const modeText = process.env.RETENTION_MODE || 'drop';
if (modeText !== 'drop' && modeText !== 'detach') {
  // A typo must not fall back to dropping what was meant to be detached.
  console.error(`RETENTION_MODE must be drop or detach, not ${JSON.stringify(modeText)}`);
  process.exit(2);
}
const mode = modeText;
const url = pgDsnToUrl(process.env.PG_DSN ?? '');
if (url.isErr()) {
  console.error(url.error.message);
  process.exit(2);
}

const boms = new PartitionManager({
  pg: url.value,
  table: process.env.PARTITION_TABLE ?? 'scanner.artifact_boms',
  column: process.env.PARTITION_COLUMN ?? 'inserted_at',
  interval: 'month',
  logger: console,
});
// As with backfill-kit, the environment can only make the run safer: DRY_RUN=1 forces a dry run over `false`.
const dryRunEnv = (process.env.DRY_RUN ?? '').trim().toLowerCase();
if (!['', '0', '1', 'false', 'true', 'no', 'yes', 'off', 'on'].includes(dryRunEnv)) {
  console.error(`DRY_RUN must be 1/true/yes/on or 0/false/no/off, not ${JSON.stringify(process.env.DRY_RUN)}`);
  process.exit(2);
}
const result = await boms.retention({ keep, dryRun: dryArg === 'true' || ['1', 'true', 'yes', 'on'].includes(dryRunEnv), mode });
await boms.close();
if (result.isErr()) {
  console.error(`${result.error.code}: ${result.error.message}\n${result.error.fix}`);
  process.exit(1);
}
const plan = result.value;
const verb = plan.dryRun ? 'would' : 'did';
for (const c of plan.candidates) {
  console.log(
    `${verb} ${c.action} ${c.name} [${c.from.toISOString()}, ${c.to.toISOString()}) ~${c.estimatedRows ?? '?'} rows, ${c.sizeBytes} bytes`,
  );
}
for (const i of plan.ignored) console.log(`ignored ${i.name}: ${i.reason}`);
console.log(
  `retention (keep ${keep}, cutoff ${plan.cutoff.toISOString()}, ${plan.dryRun ? 'dry run' : mode}): ${plan.candidates.length} partition(s)`,
);
