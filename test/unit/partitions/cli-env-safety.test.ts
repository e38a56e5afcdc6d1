/**
 * The environment may make a command safer, never less safe: for every CLI
 * command with a boolean flag read from the environment (the dry runs), a
 * true value forces the flag on and a false value changes nothing.
 */
import { describe, expect, it } from 'vitest';
import { parseCommand, type CommandSpec } from '../../../src/cli/command.js';
import { checksumsCommands } from '../../../src/cli/checksums.js';
import { datasetCommands } from '../../../src/cli/dataset.js';
import { gateCommands } from '../../../src/cli/gate.js';
import { indexCommands } from '../../../src/cli/index-cmd.js';
import { partitionsCommands } from '../../../src/cli/partitions.js';
import { statementsCommands } from '../../../src/cli/statements.js';

const all: readonly CommandSpec[] = [
  ...checksumsCommands,
  ...datasetCommands,
  ...gateCommands,
  ...indexCommands,
  ...partitionsCommands,
  ...statementsCommands,
];
const cases = all.flatMap((spec) =>
  Object.entries(spec.flags)
    .filter(([, f]) => f.type === 'boolean' && f.env !== undefined)
    .map(([flag, f]) => ({ id: `${spec.group} ${spec.name} --${flag} (${f.env})`, spec, flag, variable: f.env!, fallback: f.default })),
);
const args = (spec: CommandSpec, extra: string[]): string[] => [...Array.from({ length: spec.minArgs }, (_, i) => `arg${i}`), ...extra];

describe('boolean flags read from the environment', () => {
  it('include every dry run that DRY_RUN controls', () => {
    expect(cases.map((c) => c.id)).toEqual(
      expect.arrayContaining([
        'dataset import --dry-run (DRY_RUN)',
        'dataset rollback --dry-run (DRY_RUN)',
        'index backfill --dry-run (DRY_RUN)',
        'partitions retention --dry-run (DRY_RUN)',
      ]),
    );
  });

  it.each(cases)('$id: a false value never turns it off', ({ spec, flag, variable, fallback }) => {
    for (const value of ['0', 'false', 'no', 'off', 'FALSE']) {
      const parsed = parseCommand(spec, args(spec, []), { [variable]: value })._unsafeUnwrap();
      expect(parsed.flags[flag]).toBe(fallback);
      expect(parseCommand(spec, args(spec, [`--${flag}`]), { [variable]: value })._unsafeUnwrap().flags[flag]).toBe(true);
    }
  });

  it.each(cases)('$id: a true value forces it on, even over the --no- form', ({ spec, flag, variable }) => {
    for (const value of ['1', 'true', 'yes', 'on']) {
      expect(parseCommand(spec, args(spec, []), { [variable]: value })._unsafeUnwrap().flags[flag]).toBe(true);
      expect(parseCommand(spec, args(spec, [`--no-${flag}`]), { [variable]: value })._unsafeUnwrap().flags[flag]).toBe(true);
    }
    expect(parseCommand(spec, args(spec, [`--no-${flag}`]), {})._unsafeUnwrap().flags[flag]).toBe(false);
  });

  it.each(cases)('$id: a value that is no boolean is INVALID_ARGUMENT', ({ spec, variable }) => {
    const r = parseCommand(spec, args(spec, []), { [variable]: 'maybe' });
    expect(r.isErr() && r.error.code).toBe('INVALID_ARGUMENT');
  });
});
