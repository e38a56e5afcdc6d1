/**
 * Stdout of a script run by an operator (the examples): a reader that
 * stops early (`| head -1`, `| true`) closes the pipe, which is no
 * failure of the script, and must not end it with a stack trace; any other
 * failure to write it (a full disk under `> report.txt`) lost the output,
 * which the exit status must say even when the script was about to exit 0.
 * And its answer to `--help`, on stdout with exit 0.
 *
 * @module
 */

/**
 * Watches `process.stdout` for the rest of the process: a closed pipe
 * (`EPIPE`) is ignored, and the script's exit status stands; any other
 * write error is said once on stderr, named after `script`, when the
 * process exits, and turns an exit status of 0 into `failCode`. A write
 * to a file fails synchronously and its error is emitted only in the next
 * turn of the loop, after a `process.exit` that follows it: the stream's
 * `errored` is read as well as the emitted error.
 */
export function reportStdoutFailure(script: string, failCode = 1): void {
  let emitted: NodeJS.ErrnoException | undefined;
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    emitted ??= error;
  });
  process.on('exit', (code) => {
    const error = emitted ?? (process.stdout.errored as NodeJS.ErrnoException | null) ?? undefined;
    if (error === undefined || error.code === 'EPIPE') return;
    process.stderr.write(`${script}: stdout: ${error.message}; the output was not written whole.\n`);
    if (code === 0) process.exitCode = failCode;
  });
}

/**
 * Answers a script's `--help` or `-h` (given alone): prints `usage` on
 * stdout and exits 0, before the script reads anything else. Any other
 * arguments are left to the script.
 */
export function answerHelp(args: readonly string[], usage: string): void {
  if (args.length !== 1 || (args[0] !== '--help' && args[0] !== '-h')) return;
  process.stdout.write(`${usage}\n`);
  process.exit(0);
}
