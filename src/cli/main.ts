#!/usr/bin/env node
/**
 * The `backfill-kit` executable: wires the real process (argv, streams,
 * environment, signals) to {@link runCli} and sets the exit status. This is
 * the only file of the package that touches `process.exit`.
 *
 * @module
 */
import { readFileSync } from 'node:fs';
import { checksumsCommands } from './checksums.js';
import { datasetCommands } from './dataset.js';
import { gateCommands } from './gate.js';
import { indexCommands } from './index-cmd.js';
import { partitionsCommands } from './partitions.js';
import { interruptedJson, runCli } from './run-cli.js';
import { statementsCommands } from './statements.js';
import { EXIT_CODES } from './exit-codes.js';

function packageVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: string };
    return pkg.version ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

const argv = process.argv.slice(2);
const controller = new AbortController();
// Under --json, stdout carries one object per run: runCli's, or the interrupt's when the user quits first.
let answered = false;
const stdout = {
  write(text: string): boolean {
    answered = true;
    return process.stdout.write(text);
  },
};
let interrupted = 0;
const onSignal = (name: NodeJS.Signals): void => {
  interrupted += 1;
  if (interrupted > 1) {
    const json = answered ? undefined : interruptedJson(argv);
    if (json !== undefined) process.stdout.write(json);
    process.exit(EXIT_CODES.ABORTED.code);
  }
  process.stderr.write(`\n${name}: stopping; nothing partial is committed (press again to quit at once)\n`);
  controller.abort(new Error(name));
};
process.on('SIGINT', onSignal);
process.on('SIGTERM', onSignal);

const code = await runCli(
  argv,
  [...datasetCommands, ...checksumsCommands, ...partitionsCommands, ...statementsCommands, ...indexCommands, ...gateCommands],
  { stdout, stderr: process.stderr, env: process.env, cwd: process.cwd(), signal: controller.signal, version: packageVersion() },
);
process.exitCode = code;
// Anything still holding the event loop open (a stuck socket) must not keep the process alive.
setTimeout(() => process.exit(), 2_000).unref();
