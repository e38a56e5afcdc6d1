/**
 * Just enough Edwards25519 (RFC 8032 §5.1) to tell what an Ed25519 public
 * key is: a point of the prime-order subgroup (a key someone can hold), or
 * one with a small-order part. Verification itself stays with node:crypto;
 * this is never on a signing path, so plain (not constant-time) BigInt
 * arithmetic is fine.
 *
 * @internal
 * @packageDocumentation
 */

/** The field prime p = 2^255 - 19. */
const P = 2n ** 255n - 19n;
/** The order L of the base point, the prime-order subgroup's order: 2^252 + 27742317777372353535851937790883648493. */
const L = 2n ** 252n + 27742317777372353535851937790883648493n;

function mod(a: bigint): bigint {
  const r = a % P;
  return r < 0n ? r + P : r;
}

function power(base: bigint, exponent: bigint): bigint {
  let result = 1n;
  let b = mod(base);
  for (let e = exponent; e > 0n; e >>= 1n) {
    if (e & 1n) result = (result * b) % P;
    b = (b * b) % P;
  }
  return result;
}

function inverse(a: bigint): bigint {
  return power(a, P - 2n);
}

/** The curve constant d = -121665/121666. */
const D = mod(-121665n * inverse(121666n));
/** A square root of -1, 2^((p-1)/4). */
const SQRT_MINUS_ONE = power(2n, (P - 1n) / 4n);

/** A point in extended coordinates (X:Y:Z:T), x = X/Z, y = Y/Z, x·y = T/Z. */
interface Point {
  readonly x: bigint;
  readonly y: bigint;
  readonly z: bigint;
  readonly t: bigint;
}

const IDENTITY: Point = { x: 0n, y: 1n, z: 1n, t: 0n };

/** Point addition (RFC 8032 §5.1.4); complete on this curve, so it also doubles and handles the identity and small-order points. */
function add(p: Point, q: Point): Point {
  const a = mod((p.y - p.x) * (q.y - q.x));
  const b = mod((p.y + p.x) * (q.y + q.x));
  const c = mod(2n * D * p.t * q.t);
  const d = mod(2n * p.z * q.z);
  const e = b - a;
  const f = d - c;
  const g = d + c;
  const h = b + a;
  return { x: mod(e * f), y: mod(g * h), z: mod(f * g), t: mod(e * h) };
}

function multiply(point: Point, scalar: bigint): Point {
  let result = IDENTITY;
  let addend = point;
  for (let k = scalar; k > 0n; k >>= 1n) {
    if (k & 1n) result = add(result, addend);
    addend = add(addend, addend);
  }
  return result;
}

function isIdentity(point: Point): boolean {
  return mod(point.x) === 0n && mod(point.y - point.z) === 0n;
}

/**
 * Decodes a 32-byte point encoding (RFC 8032 §5.1.3), or `undefined` when
 * no point of the curve has that `y` and sign of `x`. Like OpenSSL, it reads
 * `y` mod p; the spellings RFC 8032 refuses (`y` ≥ p, `x = 0` with the sign
 * bit set) all have `y` < 19, and no such point is of prime order, so
 * {@link ed25519PointKind} refuses them anyway.
 */
function decode(raw: Uint8Array): Point | undefined {
  if (raw.length !== 32) return undefined;
  const bytes = Buffer.from(raw);
  const sign = (bytes[31] as number) >> 7;
  bytes[31] = (bytes[31] as number) & 0x7f;
  const y = mod(BigInt(`0x${Buffer.from(bytes).reverse().toString('hex')}`));
  // x^2 = (y^2 - 1) / (d y^2 + 1)
  const u = mod(y * y - 1n);
  const v = mod(D * y * y + 1n);
  let x = mod(u * power(v, 3n) * power(u * power(v, 7n), (P - 5n) / 8n));
  const vxx = mod(v * x * x);
  if (vxx === mod(-u)) x = mod(x * SQRT_MINUS_ONE);
  else if (vxx !== u) return undefined;
  if (Number(x & 1n) !== sign) x = mod(-x);
  return { x, y, z: 1n, t: mod(x * y) };
}

/**
 * What an Ed25519 public key's 32 bytes are:
 * - `prime-order`: a point of the prime-order subgroup, as every key made
 *   from a private key is;
 * - `small-order`: a point of order 1, 2, 4 or 8, held by nobody (some
 *   OpenSSL versions verify forged signatures under it);
 * - `mixed-order`: a key A plus a small-order point T: the holder of A's
 *   private key can also make signatures that verify under A + T (for
 *   about one message in eight), so A and A + T would count as two signers;
 * - `not-a-point`: no curve point has this encoding.
 *
 * @internal
 */
export type Ed25519PointKind = 'prime-order' | 'small-order' | 'mixed-order' | 'not-a-point';

/** Classifies an Ed25519 public key's raw 32 bytes; see {@link Ed25519PointKind}. @internal */
export function ed25519PointKind(raw: Uint8Array): Ed25519PointKind {
  const point = decode(raw);
  if (point === undefined) return 'not-a-point';
  if (isIdentity(multiply(point, 8n))) return 'small-order';
  return isIdentity(multiply(point, L)) ? 'prime-order' : 'mixed-order';
}
