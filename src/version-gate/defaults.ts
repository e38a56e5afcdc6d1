/**
 * Defaults for {@link VersionGateConfig}. The JSDoc `@defaultValue` tags on
 * the config point here, so the docs and the code cannot drift apart.
 *
 * @example
 * ```ts
 * new VersionGate({ repoPath: '.', remediation: 'git pull', window: DEFAULT_GATE_WINDOW * 2 });
 * ```
 *
 * @module
 */

/** How many of the newest commits count as recent. */
export const DEFAULT_GATE_WINDOW = 100;

/** How long a loaded commit set is fresh before a check triggers a refresh, in ms. */
export const DEFAULT_GATE_TTL_MS = 5_000;

/** The request header that carries the client's commit (lower case, as Node reports it). */
export const DEFAULT_GATE_HEADER = 'x-code-commit';

/** The git binary to run; looked up on `PATH`. */
export const DEFAULT_GATE_GIT = 'git';

/** How long one `git log` may run before it is killed, in ms. */
export const DEFAULT_GATE_GIT_TIMEOUT_MS = 10_000;

/** The largest accepted `window`, so a typo cannot ask git for the whole history. */
export const MAX_GATE_WINDOW = 100_000;
