// Replaces the release receiver runbook's step "rebuild missing index.jsonl rows":
//   sudo -u cis490 /opt/cis490/.venv/bin/python /opt/cis490/tools/index_backfill.py \
//     --episodes-root /var/lib/cis490/episodes --index /var/lib/cis490/index.jsonl
// Same flags, same stdout lines, same exit codes (2: no episodes directory).
// Run as the receiver's user so a newly created index gets the right owner:
//   sudo -u cis490 npx tsx examples/index-backfill.ts --episodes-root … --index … [--host H] [--dry-run]
import { backfillIndex, formatIndexRow } from '../src/index-backfill/index.js';
import { reportStdoutFailure } from '../src/_internals/script-stdout.js';

// A reader that stops early (`| head -1`) is no failure; stdout that cannot be written (a full disk) is, and says so.
reportStdoutFailure('index-backfill');

const FLAGS = ['--episodes-root', '--index', '--host', '--dry-run', '--help'] as const;
type Flag = (typeof FLAGS)[number];
const USAGE = 'usage: cis490-index-backfill [-h] [--episodes-root EPISODES_ROOT] [--index INDEX] [--host HOST] [--dry-run]';

/** Path text as Python's pathlib prints it: no empty or `.` segments, no trailing slash. */
function pyPath(p: string): string {
  const parts = p.split('/').filter((s) => s !== '' && s !== '.');
  const text = (p.startsWith('/') ? '/' : '') + parts.join('/');
  return text === '' ? '.' : text;
}

function usageError(message: string): never {
  process.stderr.write(`${USAGE}\ncis490-index-backfill: error: ${message}\n`);
  process.exit(2);
}

/** argparse-style: `--flag value`, `--flag=value`, and unambiguous prefixes. */
function parse(argv: string[]): { episodesRoot: string; index: string; host: string | undefined; dryRun: boolean } {
  const out = {
    episodesRoot: '/var/lib/cis490/episodes',
    index: '/var/lib/cis490/index.jsonl',
    host: undefined as string | undefined,
    dryRun: false,
  };
  for (let i = 0; i < argv.length; i += 1) {
    const arg = argv[i]!;
    const [name = '', inline] =
      arg === '-h'
        ? ['--help', undefined]
        : arg.startsWith('--') && arg.includes('=')
          ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)]
          : [arg, undefined];
    const matches = FLAGS.filter((f) => f.startsWith(name) && name.startsWith('--'));
    const flag: Flag | undefined = FLAGS.find((f) => f === name) ?? (matches.length === 1 ? matches[0] : undefined);
    if (flag === undefined) usageError(matches.length > 1 ? `ambiguous option: ${name}` : `unrecognized arguments: ${arg}`);
    if (flag === '--help') {
      process.stdout.write(`${USAGE}\n`);
      process.exit(0);
    }
    if (flag === '--dry-run') {
      if (inline !== undefined) usageError('argument --dry-run: ignored explicit argument');
      out.dryRun = true;
      continue;
    }
    if (inline === undefined) i += 1; // the value is the next argument
    const value = inline ?? argv[i];
    if (value === undefined) usageError(`argument ${flag}: expected one argument`);
    if (flag === '--episodes-root') out.episodesRoot = value;
    else if (flag === '--index') out.index = value;
    else out.host = value;
  }
  return out;
}

const args = parse(process.argv.slice(2));
const result = await backfillIndex({
  episodesRoot: args.episodesRoot,
  index: args.index,
  dryRun: args.dryRun,
  ...(args.host ? { host: args.host } : {}),
});
if (result.isErr()) {
  const { code, message } = result.error;
  process.stderr.write(code === 'EPISODES_ROOT_MISSING' ? `no episodes dir at ${pyPath(args.episodesRoot)}\n` : `${code}: ${message}\n`);
  process.exit(code === 'EPISODES_ROOT_MISSING' ? 2 : 1);
}
const report = result.value;
for (const warning of report.warnings) process.stderr.write(`warning: ${warning.message}\n`);
process.stdout.write(`scanned: ${report.scanned} already-indexed: ${report.alreadyIndexed} to-backfill: ${report.toBackfill}\n`);
if (report.toBackfill > 0) {
  if (args.dryRun) {
    for (const row of report.rows.slice(0, 5)) process.stdout.write(`${formatIndexRow(row)}\n`);
    if (report.rows.length > 5) process.stdout.write(`... (${report.rows.length - 5} more)\n`);
  } else {
    process.stdout.write(`backfilled ${report.appended} rows into ${pyPath(args.index)}\n`);
  }
}
