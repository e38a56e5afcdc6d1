#!/usr/bin/env node
/**
 * The `backfill-kit` executable: wires the real process (argv, streams,
 * environment, signals) to {@link runCli} and sets the exit status. This is
 * the only file of the package that touches `process.exit`.
 *
 * @module
 */
import module from 'node:module';

// Before anything is loaded: a signal while the modules load (a supervisor's SIGTERM right after the start) is
// kept, and answered with exit 130 (and the --json document) once they are, instead of ending the process unheard.
const early: NodeJS.Signals[] = [];
const keepEarly = (name: NodeJS.Signals): void => {
  early.push(name);
};
for (const name of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(name, keepEarly);

// Before the rest is imported: later starts reuse the compiled code (NODE_DISABLE_COMPILE_CACHE=1 turns it off).
module.enableCompileCache?.();
// First, so that `ps` shows a password typed on the command line for as short a time as possible.
(await import('./secrets.js')).maskProcessTitle(process.argv.slice(2));
const { failureJson, interruptedJson, runCli } = await import('./run-cli.js');
const { commandGroups } = await import('./groups.js');
const { EXIT_CODES } = await import('./exit-codes.js');
const { formatError } = await import('./output.js');
const { BackfillError } = await import('../errors.js');
const { kitVersion, packageJson } = await import('../_internals/package-json.js');

/**
 * Why this Node.js cannot run the CLI (older than package.json's
 * `engines.node` `>=X.Y`), or undefined. Checked first: an older one fails
 * later with an error that only names a missing export of a Node module.
 */
function unsupportedNode(engines: string | undefined): string | undefined {
  const [, major, minor] = /^>=\s*(\d+)\.(\d+)/.exec(engines ?? '') ?? [];
  if (major === undefined || minor === undefined) return undefined;
  const [hasMajor = 0, hasMinor = 0] = process.versions.node.split('.').map(Number);
  if (hasMajor > Number(major) || (hasMajor === Number(major) && hasMinor >= Number(minor))) return undefined;
  return `backfill-kit needs Node.js ${major}.${minor} or later; this is Node.js ${process.versions.node} (${process.execPath}). Run it with a newer Node.js.`;
}

// A reader that stops early (`| head -1`) closes the pipe; the command has run by then, so its exit status stands.
// Any other failure to write stdout (a full disk, ENOSPC) is reported on stderr once the command is done.
let stdoutFailed: NodeJS.ErrnoException | undefined;
const onStdoutError = (error: NodeJS.ErrnoException): void => {
  if (error.code !== 'EPIPE') stdoutFailed ??= error;
};
process.stdout.on('error', onStdoutError);
// A failing stderr leaves nowhere to say so; the exit status still tells.
process.stderr.on('error', () => undefined);

const argv = process.argv.slice(2);
const pkg = packageJson();
const tooOld = unsupportedNode(pkg.engines?.node);
if (tooOld !== undefined) {
  const error = new BackfillError('INVALID_ARGUMENT', tooOld);
  const json = failureJson(argv, error, EXIT_CODES.USAGE.code);
  if (json !== undefined) process.stdout.write(json);
  process.stderr.write(formatError(error, false));
  process.exit(EXIT_CODES.USAGE.code);
}
// A current directory removed since the shell entered it (a release directory a deploy replaced) has no path, and
// relative paths no meaning: say so, and what to do, rather than end in a stack trace that reads as a bug (exit 1).
let cwd = '';
try {
  cwd = process.cwd();
} catch (thrown) {
  const error = new BackfillError(
    'IO_ERROR',
    `the current directory cannot be read (${(thrown as NodeJS.ErrnoException).code ?? String(thrown)}): it was removed or renamed after this shell entered it; nothing was done.`,
    { cause: thrown, context: { cwdUnreadable: true } },
  );
  const json = failureJson(argv, error, EXIT_CODES.IO.code);
  if (json !== undefined) process.stdout.write(json);
  process.stderr.write(formatError(error, false));
  process.exit(EXIT_CODES.IO.code);
}
const controller = new AbortController();
// Under --json, stdout carries one object per run: runCli's, or the interrupt's when the user quits first.
let answered = false;
const stdout = {
  write(text: string): boolean {
    answered = true;
    return process.stdout.write(text);
  },
};
// The command runCli found, for the document a second signal prints before runCli answers.
let command: string | null = null;
let interrupted = 0;
const onSignal = (name: NodeJS.Signals): void => {
  interrupted += 1;
  if (interrupted > 1) {
    const json = answered ? undefined : interruptedJson(argv, command);
    if (json !== undefined) process.stdout.write(json);
    process.exit(EXIT_CODES.ABORTED.code);
  }
  process.stderr.write(`\n${name}: stopping; nothing partial is committed (press again to quit at once)\n`);
  // An AbortError, as `controller.abort()` gives: a step that rethrows `signal.reason` (`throwIfAborted`) then reads as ABORTED (exit 130), not as a failed write.
  controller.abort(new DOMException(`${name} received`, 'AbortError'));
};
// A signal that came while the modules loaded reaches its handler in the loop's next turn: take it, then hand over.
await new Promise<void>((resolve) => setImmediate(resolve));
for (const name of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.off(name, keepEarly);
process.on('SIGINT', onSignal);
process.on('SIGTERM', onSignal);
// A closed terminal or SSH session (SIGHUP) would otherwise end the process at once, leaving a build's temporary files behind.
process.on('SIGHUP', onSignal);
// Stopped before it started: nothing ran, and saying so beats starting the command only to stop it.
if (early.length > 0) {
  const error = new BackfillError('ABORTED', `${early[0]} received while backfill-kit was starting; nothing was done.`);
  const json = failureJson(argv, error, EXIT_CODES.ABORTED.code);
  if (json !== undefined) process.stdout.write(json);
  process.stderr.write(formatError(error, false));
  process.exit(EXIT_CODES.ABORTED.code);
}

const code = await runCli(argv, commandGroups, {
  stdout,
  stderr: process.stderr,
  env: process.env,
  cwd,
  signal: controller.signal,
  version: kitVersion(),
  onCommand: (found) => {
    command = found;
  },
});
// Written to a file, stdout fails only once flushed: wait for that before judging it.
await new Promise<void>((resolve) => process.stdout.write('', () => resolve()));
if (stdoutFailed === undefined) {
  process.exitCode = code;
} else {
  const error = new BackfillError('IO_ERROR', `stdout: ${stdoutFailed.message}; the report was not written whole.`, {
    cause: stdoutFailed,
  });
  process.stderr.write(formatError(error, false));
  // A command that failed keeps its own status; a success whose report was lost is an I/O failure.
  process.exitCode = code === EXIT_CODES.OK.code ? EXIT_CODES.IO.code : code;
}
// Anything still holding the event loop open (a stuck socket) must not keep the process alive.
setTimeout(() => process.exit(), 2_000).unref();
