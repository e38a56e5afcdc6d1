// Replaces the partition runbook's "Pre-create current + next month partition" step
// (`devops/scripts/scanner-artifact-boms-ensure-partitions.sh 1`), with the same argument.
//
//   PG_DSN="Host=…;Database=…;Username=…;Password=…" npx tsx examples/scanner-artifact-boms-ensure-partitions.ts 1
//
// The argument is how many months after the current one must exist (default 1).
// PG_DSN may also be a postgres:// URL. PARTITION_TABLE / PARTITION_COLUMN
// override the table (scanner.artifact_boms) and its key (inserted_at).
// Safe to run from cron on every host at once: runs serialise on an advisory lock.
import { PartitionManager } from '../src/partitions/index.js';
import { pgDsnToUrl } from '../src/_internals/pg-dsn.js';
import { answerHelp, reportStdoutFailure } from '../src/_internals/script-stdout.js';

// A reader that stops early (`| head -1`) is no failure; stdout that cannot be written (a full disk) is, and says so.
reportStdoutFailure('scanner-artifact-boms-ensure-partitions');

const args = process.argv.slice(2);
const USAGE =
  'usage: scanner-artifact-boms-ensure-partitions.ts [months-ahead] (default 1; settings in the environment: PG_DSN, PARTITION_TABLE, PARTITION_COLUMN)';
answerHelp(args, USAGE);
const [aheadArg = '1'] = args;
const ahead = Number(aheadArg);
if (!/^\d+$/.test(aheadArg) || !Number.isSafeInteger(ahead) || args.length > 1) {
  console.error(`${USAGE}; got ${JSON.stringify(args)}`);
  process.exit(2);
}
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
const result = await boms.ensure({ ahead });
await boms.close();
if (result.isErr()) {
  console.error(`${result.error.code}: ${result.error.message}\n${result.error.fix}`);
  process.exit(1);
}
const { created, existing } = result.value;
for (const c of created)
  console.log(
    `created ${c.name} [${c.from.toISOString()}, ${c.to.toISOString()})${c.rowsMovedFromDefault ? `, moved ${c.rowsMovedFromDefault} rows out of the default partition` : ''}`,
  );
for (const e of existing) console.log(`exists  ${e.name}${e.coveredBy === e.name ? '' : ` (covered by ${e.coveredBy})`}`);
console.log(`ensure: ${created.length} created, ${existing.length} already present`);
