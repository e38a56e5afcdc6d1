/**
 * The CLI's command groups, each imported only when it is used: a command
 * loads its own group (a `statements worker` process never loads the
 * dataset, partitions or index code), and only help and a mistyped group
 * load them all, for their names and summaries.
 *
 * @module
 */
import type { CommandGroups } from './command.js';

/** Every group in the order `backfill-kit --help` lists them. */
export const commandGroups: CommandGroups = {
  dataset: async () => (await import('./dataset.js')).datasetCommands,
  checksums: async () => (await import('./checksums.js')).checksumsCommands,
  partitions: async () => (await import('./partitions.js')).partitionsCommands,
  statements: async () => (await import('./statements.js')).statementsCommands,
  index: async () => (await import('./index-cmd.js')).indexCommands,
  gate: async () => (await import('./gate.js')).gateCommands,
};
