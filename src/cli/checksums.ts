/**
 * `backfill-kit checksums verify|write` (the release-bundle runbook): `sha256sum --check` and
 * `sha256sum > SHA256SUMS`, with the same verdicts and bytes.
 *
 * @module
 */
import { resolve } from 'node:path';
import { errAsync, okAsync, ResultAsync } from 'neverthrow';
import { BackfillError, isBackfillError } from '../errors.js';
import { defaultChecksumsBaseDir, verifyChecksums, writeChecksums, type ChecksumReport, type ChecksumsSignature } from '../verify/index.js';
import { readWholeFile } from '../verify/read-whole-file.js';
import { booleanFlag, choiceFlag, failed, intFlag, pathArgument, stringFlag, type CommandSpec } from './command.js';
import { EXIT_CODES } from './exit-codes.js';
import { counted, num } from './output.js';

/** Malformed lines named under the warning that counts them. */
const SHOWN_MALFORMED = 5;

/** The per-file lines `sha256sum --check` prints, then its warnings (naming the first malformed lines and why). */
function verifyLines(r: ChecksumReport, quiet: boolean): string[] {
  const lines: string[] = [];
  for (const e of r.entries) {
    if (e.status === 'SKIPPED') continue;
    if (quiet && e.status === 'OK') continue;
    const verdict =
      e.status === 'OK' ? 'OK' : e.status === 'FAILED' ? 'FAILED' : e.status === 'UNSAFE' ? 'REFUSED (unsafe path)' : 'FAILED open or read';
    lines.push(`${e.path}: ${verdict}`);
  }
  const c = r.counts;
  if (c.malformed > 0) {
    lines.push(`WARNING: ${c.malformed} line${c.malformed === 1 ? ' is' : 's are'} improperly formatted`);
    // Which, and why: a line skipped without --strict is a file nobody checked (a byte-order mark hides the first one).
    const malformed = r.problems.filter((p) => p.code === 'CHECKSUM_LINE_MALFORMED' && p.context.line !== undefined);
    for (const p of malformed.slice(0, SHOWN_MALFORMED)) lines.push(`  ${p.message}`);
    if (malformed.length > SHOWN_MALFORMED) lines.push(`  … and ${num(malformed.length - SHOWN_MALFORMED)} more`);
  }
  if (c.missing + c.unreadable > 0) lines.push(`WARNING: ${counted(c.missing + c.unreadable, 'listed file')} could not be read`);
  if (c.failed > 0) lines.push(`WARNING: ${counted(c.failed, 'computed checksum')} did NOT match`);
  if (c.unsafe > 0)
    lines.push(
      `WARNING: ${c.unsafe} entr${c.unsafe === 1 ? 'y was' : 'ies were'} refused (absolute, .., -, or a symlink out of the base directory)`,
    );
  lines.push(`${r.ok ? 'OK' : 'FAILED'}: ${num(c.ok)} of ${num(c.listed)} listed files verified`);
  return lines;
}

/**
 * The `--signature` and `--key` files, read when given (both or neither);
 * `verifyChecksums` checks the signature over the very bytes it then parses.
 */
function readSignature(
  signature: string | undefined,
  key: string | undefined,
  cwd: string,
  signal: AbortSignal,
): ResultAsync<ChecksumsSignature | undefined, BackfillError> {
  if (signature === undefined && key === undefined) return okAsync(undefined);
  if (signature === undefined || key === undefined)
    return errAsync(new BackfillError('INVALID_ARGUMENT', '--signature and --key go together.'));
  // A key or signature may come from a pipe (`--key <(vault read …)`): read it without blocking a thread.
  const read = (path: string): ResultAsync<Buffer, BackfillError> =>
    ResultAsync.fromPromise(readWholeFile(resolve(cwd, path), signal), (e) =>
      isBackfillError(e)
        ? e
        : new BackfillError('IO_ERROR', `${path}: ${e instanceof Error ? e.message : String(e)}`, { cause: e, context: { path } }),
    );
  // The key goes on as bytes, so a DER key is read as DER (and a private one refused as such).
  return ResultAsync.combine([read(signature), read(key)]).map(([signatureBytes, publicKey]) => ({
    signatureBase64: signatureBytes.toString('utf8'),
    publicKey,
  }));
}

const verify: CommandSpec = {
  group: 'checksums',
  name: 'verify',
  summary: 'Check the files listed in a SHA256SUMS file, with the same verdicts as sha256sum --check.',
  args: '<SHA256SUMS|->',
  minArgs: 1,
  maxArgs: 1,
  replaces: 'sha256sum --check SHA256SUMS (release-bundle runbook, verification stage)',
  flags: {
    strict: { type: 'boolean', description: 'Improperly formatted lines fail the check, like sha256sum --strict.', default: false },
    'ignore-missing': {
      type: 'boolean',
      description: 'Skip listed files that do not exist, like sha256sum --ignore-missing.',
      default: false,
    },
    'base-dir': {
      type: 'string',
      value: '<dir>',
      description: 'Directory the listed names are relative to.',
      defaultText: 'the directory of the sums file (the working directory for <(…) and /dev/stdin)',
    },
    'follow-symlinks-outside': {
      type: 'boolean',
      description: 'Read listed files through symlinks that lead out of the base directory, as sha256sum does (refused otherwise).',
      default: false,
    },
    concurrency: { type: 'string', value: '<n>', description: 'Files hashed at once.', default: '4' },
    status: {
      type: 'boolean',
      description: 'Print only failures (like sha256sum --quiet); the exit status tells the verdict.',
      default: false,
    },
    signature: {
      type: 'string',
      value: '<file.sig>',
      description: 'First check this detached signature of the sums file, as cosign verify-blob --key --signature does (needs --key).',
    },
    key: {
      type: 'string',
      value: '<cosign.pub>',
      description: 'Public key (ECDSA P-256 or RSA, PEM or DER) for --signature; a private key is refused.',
    },
  },
  examples: [
    'backfill-kit checksums verify artifacts/lnm/SHA256SUMS',
    'backfill-kit checksums verify SHA256SUMS --signature SHA256SUMS.sig --key cosign.pub --strict --json',
  ],
  async *run(ctx) {
    // `-` is standard input, as for sha256sum --check.
    const given = ctx.positionals[0]!;
    const sums = given === '-' ? '/dev/stdin' : yield* pathArgument(ctx, 0, '<SHA256SUMS>');
    const signature = await readSignature(stringFlag(ctx.flags, 'signature'), stringFlag(ctx.flags, 'key'), ctx.cwd, ctx.signal);
    if (signature.isErr()) return failed(signature.error.withPartial({ signature: null }));
    const baseDir = stringFlag(ctx.flags, 'base-dir');
    const progress = ctx.progress('verify', 'files');
    const result = await verifyChecksums(sums, {
      strict: booleanFlag(ctx.flags, 'strict'),
      ignoreMissing: booleanFlag(ctx.flags, 'ignore-missing'),
      followSymlinksOutside: booleanFlag(ctx.flags, 'follow-symlinks-outside'),
      concurrency: (yield* intFlag(ctx.flags, 'concurrency', 1, 256)) ?? 4,
      baseDir: baseDir === undefined ? defaultChecksumsBaseDir(sums, ctx.cwd) : resolve(ctx.cwd, baseDir),
      ...(signature.value === undefined ? {} : { signature: signature.value }),
      onProgress: (p) => progress.update(p.filesDone, p.filesTotal),
      signal: ctx.signal,
      logger: ctx.logger,
    });
    progress.done();
    // No report: with --signature, the JSON report still says the signature was not verified.
    if (result.isErr()) return failed(signature.value === undefined ? result.error : result.error.withPartial({ signature: null }));
    const report = result.value;
    const signed = report.signature;
    const lines = [
      ...(signed === null ? [] : [`signature: Verified OK (${signed.keyKind} key, sums file sha256 ${signed.sha256})`]),
      ...verifyLines(report, booleanFlag(ctx.flags, 'status')),
    ];
    if (report.ok) return { exitCode: EXIT_CODES.OK.code, report, lines };
    const first = report.problems[0];
    return first === undefined
      ? { exitCode: EXIT_CODES.MISMATCH.code, report, lines }
      : { ...failed(first.withPartial(report), lines), exitCode: EXIT_CODES.MISMATCH.code };
  },
};

const write: CommandSpec = {
  group: 'checksums',
  name: 'write',
  summary: 'Hash files and write a SHA256SUMS file byte-for-byte as sha256sum prints it (sorted, atomic).',
  args: '<SHA256SUMS> <file...>',
  minArgs: 2,
  maxArgs: Number.MAX_SAFE_INTEGER,
  replaces: 'sha256sum <files> > SHA256SUMS when building a release or offline bundle (release-bundle runbook)',
  flags: {
    format: {
      type: 'string',
      value: '<text|binary|tag>',
      description: 'Line form: sha256sum, sha256sum --binary or sha256sum --tag.',
      default: 'text',
    },
    'base-dir': {
      type: 'string',
      value: '<dir>',
      description: 'Directory the file names are relative to.',
      defaultText: 'the directory of the sums file',
    },
    concurrency: { type: 'string', value: '<n>', description: 'Files hashed at once.', default: '4' },
  },
  examples: ['cd artifacts/lnm && backfill-kit checksums write SHA256SUMS migrations/21-101.tar.zst seeds/object-store.tar.zst'],
  async *run(ctx) {
    const [, ...files] = ctx.positionals;
    const out = yield* pathArgument(ctx, 0, '<SHA256SUMS>');
    const baseDir = stringFlag(ctx.flags, 'base-dir');
    const format = yield* choiceFlag(ctx.flags, 'format', ['text', 'binary', 'tag'] as const);
    const progress = ctx.progress('hash', 'files');
    const result = await writeChecksums(files, out, {
      ...(format === undefined ? {} : { format }),
      ...(baseDir === undefined ? {} : { baseDir: resolve(ctx.cwd, baseDir) }),
      concurrency: (yield* intFlag(ctx.flags, 'concurrency', 1, 256)) ?? 4,
      onProgress: (p) => progress.update(p.filesDone, p.filesTotal),
      signal: ctx.signal,
      logger: ctx.logger,
    });
    progress.done();
    if (result.isErr()) return failed(result.error);
    const r = result.value;
    return {
      exitCode: EXIT_CODES.OK.code,
      report: { path: r.path, entries: r.entries },
      lines: [
        ...r.content.toString('utf8').trimEnd().split('\n'),
        `Wrote ${r.path} (${r.entries.length} entr${r.entries.length === 1 ? 'y' : 'ies'}).`,
      ],
    };
  },
};

/** The `checksums` subcommands. */
export const checksumsCommands: readonly CommandSpec[] = [verify, write];
