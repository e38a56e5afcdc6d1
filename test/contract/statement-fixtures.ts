/** Builders for statement batches shared by the sink, checkpoint and backfill contracts. */
import { afterEach } from 'vitest';
import type {
  BackfillCheckpoint,
  BackfillCounters,
  BackfillFailure,
  DocumentClaims,
  DocumentCursor,
  StatementBatch,
  StatementSink,
  VexClaim,
} from '../../src/statements/ports.js';

/** A claim row as an oracle reads it back, without per-run columns. */
export interface ClaimRow {
  readonly documentDigest: string;
  readonly vulnerabilityId: string;
  readonly productKey: string;
  readonly status: string;
  readonly justification: string | null;
  readonly statement: string | null;
  readonly format: string;
}

export function digest(n: number): string {
  return `sha256:${n.toString(16).padStart(64, '0')}`;
}

export function claim(
  documentDigest: string,
  vulnerabilityId: string,
  productKey: string,
  status: VexClaim['status'] = 'not_affected',
  extra: Partial<VexClaim> = {},
): VexClaim {
  return { documentDigest, vulnerabilityId, productKey, status, format: 'openvex', ...extra };
}

export function doc(d: string, claims: readonly VexClaim[]): DocumentClaims {
  return { digest: d, format: 'openvex', claims };
}

export const ZERO: BackfillCounters = { evaluated: 0, backfilled: 0, claimsWritten: 0, skipped: 0, failures: 0 };

export function checkpoint(
  runId: string,
  counters: Partial<BackfillCounters>,
  cursor: DocumentCursor | null,
  extra: Partial<BackfillCheckpoint> = {},
): BackfillCheckpoint {
  return {
    runId,
    cursor,
    counters: { ...ZERO, ...counters },
    options: { retrievedSince: null, force: false, maxDocuments: null },
    outcomeSha256: 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
    completed: false,
    ...extra,
  };
}

export function batch(
  runId: string,
  documents: readonly DocumentClaims[],
  options: { force?: boolean; failures?: readonly BackfillFailure[]; checkpoint?: BackfillCheckpoint } = {},
): StatementBatch {
  const claimsWritten = documents.reduce((n, d) => n + d.claims.length, 0);
  return {
    runId,
    force: options.force ?? false,
    documents,
    failures: options.failures ?? [],
    checkpoint:
      options.checkpoint ??
      checkpoint(
        runId,
        { evaluated: documents.length, backfilled: documents.length, claimsWritten, failures: options.failures?.length ?? 0 },
        { retrievedAt: '2025-10-19T08:00:00.000Z', digest: documents.at(-1)?.digest ?? digest(0) },
      ),
  };
}

/** Claim rows as the contract compares them: the oracle's rows, sorted by identity. */
export function sortRows(rows: readonly ClaimRow[]): ClaimRow[] {
  const key = (r: ClaimRow): string => `${r.documentDigest}\u0000${r.vulnerabilityId}\u0000${r.productKey}`;
  return [...rows].sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
}

/** What the oracle must read back for `claims`. */
export function rowsOf(claims: readonly VexClaim[]): ClaimRow[] {
  return sortRows(
    claims.map((c) => ({
      documentDigest: c.documentDigest,
      vulnerabilityId: c.vulnerabilityId,
      productKey: c.productKey,
      status: c.status,
      justification: c.justification ?? null,
      statement: c.statement ?? null,
      format: c.format,
    })),
  );
}

/**
 * Builds a fresh fixture per test (preparing its sink) and cleans it up
 * after each test. Call inside the contract's `describe`.
 */
export function useSinkFixture<F extends { readonly sink: StatementSink; cleanup(): Promise<void> }>(
  make: () => Promise<F>,
): () => Promise<F> {
  let fx: F | undefined;
  afterEach(async () => {
    await fx?.cleanup();
    fx = undefined;
  });
  return async () => {
    fx = await make();
    if (fx.sink.prepare !== undefined) (await fx.sink.prepare())._unsafeUnwrap();
    return fx;
  };
}
