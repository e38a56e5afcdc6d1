/**
 * The run summary: the one-line text the runbook's command prints and a deterministic JSON report
 * whose SHA-256 an operator records ("capture report hash").
 *
 * @module
 */
import { createHash } from 'node:crypto';
import type { BackfillCounters, BackfillFailure, CheckpointOptions, DocumentCursor } from './ports.js';

/**
 * The deterministic report of a run. It holds no times, run ids or batch
 * sizes, so the same input and options give the same report, however many
 * times the run was interrupted and resumed.
 *
 * @example
 * ```ts
 * const report: BackfillReport = summary.report;
 * console.log(report.counters, report.outcomeSha256);
 * ```
 */
export interface BackfillReport {
  readonly schemaVersion: number;
  readonly options: CheckpointOptions;
  readonly counters: BackfillCounters;
  readonly lastCursor: DocumentCursor | null;
  /**
   * Sum (mod 2^256) of `sha256(digest + " " + outcome)` over every evaluated
   * document: a hash of what happened to each document, whatever the order
   * or the number of workers.
   */
  readonly outcomeSha256: string;
  readonly failed: readonly BackfillFailure[];
}

/**
 * What {@link StatementBackfiller.run} returns.
 *
 * @example
 * ```ts
 * const result = await backfiller.run({ batchSize: 500 });
 * if (result.isErr()) throw result.error;
 * const summary = result.value;
 * console.log(summary.text, summary.reportSha256);
 * ```
 */
export interface BackfillSummary extends BackfillCounters {
  readonly runId: string;
  /** Every failed document with its digest, code and message, in processing order. */
  readonly failed: readonly BackfillFailure[];
  /**
   * `Backfill completed: evaluated N, backfilled N, claims written N, skipped N, failures N.`; the
   * partial summary of a run that stopped opens `Backfill stopped:` (`Backfill in progress:` for a
   * planned run still running).
   */
  readonly text: string;
  /** SHA-256 (hex) of the canonical JSON of {@link BackfillSummary.report}. */
  readonly reportSha256: string;
  readonly report: BackfillReport;
  /** True when the run continued from a saved checkpoint. */
  readonly resumed: boolean;
}

/** How far a run got: its summary line opens `Backfill completed:` only for a completed one. */
export type SummaryState = 'completed' | 'stopped' | 'running';

const OPENINGS: Readonly<Record<SummaryState, string>> = {
  completed: 'Backfill completed',
  stopped: 'Backfill stopped',
  running: 'Backfill in progress',
};

/**
 * The runbook's summary line for a set of counters; a run that stopped
 * (or still runs) says so, so no one takes its partial counts for a
 * completed run.
 *
 * @example
 * ```ts
 * summaryText({ evaluated: 450, backfilled: 180, claimsWritten: 320, skipped: 270, failures: 0 });
 * // 'Backfill completed: evaluated 450, backfilled 180, claims written 320, skipped 270, failures 0.'
 * ```
 */
export function summaryText(c: BackfillCounters, state: SummaryState = 'completed'): string {
  return `${OPENINGS[state]}: evaluated ${c.evaluated}, backfilled ${c.backfilled}, claims written ${c.claimsWritten}, skipped ${c.skipped}, failures ${c.failures}.`;
}

/**
 * JSON with object keys sorted at every level, so equal values give equal bytes.
 *
 * @example
 * ```ts
 * canonicalJson({ b: 1, a: 2 }); // '{"a":2,"b":1}'
 * ```
 */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => {
    if (v === null || typeof v !== 'object' || Array.isArray(v)) return v;
    const sorted: Record<string, unknown> = {};
    for (const k of Object.keys(v).sort()) sorted[k] = (v as Record<string, unknown>)[k];
    return sorted;
  });
}

/** The outcome sum of no documents. */
export const OUTCOME_SUM_ZERO = '0'.repeat(64);

const MOD_256 = (1n << 256n) - 1n;
const toHex = (n: bigint): string => n.toString(16).padStart(64, '0');

/**
 * Adds one document's outcome to an outcome sum:
 * `(sum + sha256(digest + " " + outcome)) mod 2^256`, as 64 hex digits.
 * A sum, unlike a chain, does not depend on the order documents were
 * evaluated in, so the sums of disjoint key ranges add up to the sum of
 * the whole run ({@link addOutcomeSums}).
 *
 * @example
 * ```ts
 * addOutcome(OUTCOME_SUM_ZERO, 'sha256:ab…', 'backfilled 3');
 * ```
 */
export function addOutcome(sum: string, digest: string, outcome: string): string {
  const leaf = BigInt(`0x${createHash('sha256').update(`${digest} ${outcome}`).digest('hex')}`);
  return addOutcomeSums(sum, toHex(leaf));
}

/**
 * Adds two outcome sums (mod 2^256): the sum over the union of two disjoint sets of documents.
 *
 * @example
 * ```ts
 * addOutcomeSums(rangeA.outcomeSha256, rangeB.outcomeSha256);
 * ```
 */
export function addOutcomeSums(a: string, b: string): string {
  return toHex((BigInt(`0x${a}`) + BigInt(`0x${b}`)) & MOD_256);
}

/**
 * Builds the summary (text, report and report hash) from a run's state.
 *
 * @example
 * ```ts
 * const s = buildSummary({ runId: 'r1', resumed: false, report, state: 'completed' });
 * ```
 */
export function buildSummary(input: {
  readonly runId: string;
  readonly resumed: boolean;
  readonly report: BackfillReport;
  readonly state: SummaryState;
}): BackfillSummary {
  const { report } = input;
  return {
    ...report.counters,
    runId: input.runId,
    failed: report.failed,
    text: summaryText(report.counters, input.state),
    reportSha256: createHash('sha256').update(canonicalJson(report)).digest('hex'),
    report,
    resumed: input.resumed,
  };
}
