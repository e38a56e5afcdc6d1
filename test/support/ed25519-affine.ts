/**
 * Edwards25519 in affine coordinates, written for tests only, apart from the
 * code under test (which uses extended coordinates): field arithmetic mod
 * p = 2^255 - 19, point decoding, addition and encoding, and the points of
 * small order.
 */
export const P = 2n ** 255n - 19n;
/** The order of the base point (RFC 8032). */
export const L = 2n ** 252n + 27742317777372353535851937790883648493n;

export function modP(a: bigint): bigint {
  return ((a % P) + P) % P;
}

export function pow(base: bigint, exp: bigint): bigint {
  let result = 1n;
  let b = modP(base);
  for (let e = exp; e > 0n; e >>= 1n, b = (b * b) % P) if (e & 1n) result = (result * b) % P;
  return result;
}

const inv = (a: bigint): bigint => pow(a, P - 2n);
const D = modP(-121665n * inv(121666n));

/** A square root mod p, or undefined (p ≡ 5 mod 8). */
export function sqrt(a: bigint): bigint | undefined {
  const r = pow(a, (P + 3n) / 8n);
  if ((r * r - a) % P === 0n) return r;
  const s = (r * pow(2n, (P - 1n) / 4n)) % P;
  return (s * s - a) % P === 0n ? s : undefined;
}

/** A little-endian 32-byte encoding of `n`. */
export function le32(n: bigint): Buffer {
  return Buffer.from(n.toString(16).padStart(64, '0'), 'hex').reverse();
}

/** A little-endian number. */
export function fromLe(bytes: Uint8Array): bigint {
  return BigInt(`0x${Buffer.from(bytes).reverse().toString('hex') || '0'}`);
}

/**
 * y of the points of order 1 (y = 1), 2 (y = -1), 4 (y = 0) and 8 (doubling to
 * y = 0: -x^2 = y^2, so d·y^4 + 2y^2 - 1 = 0), canonical and not (y + p < 2^255), sign bit clear.
 */
export function smallOrderEncodings(): Buffer[] {
  const inverseD = inv(D);
  const root = sqrt(1n + D) as bigint; // 1 + d is a square
  const squares = [(-1n + root) * inverseD, (-1n - root) * inverseD].map(modP);
  const y8 = squares.map((v) => sqrt(v)).find((y) => y !== undefined) as bigint;
  const ys = [0n, 1n, P - 1n, P, P + 1n, y8, P - y8];
  return ys.map(le32);
}

export interface Affine {
  readonly x: bigint;
  readonly y: bigint;
}

/** Decodes a point: x from x^2 = (y^2 - 1) / (d y^2 + 1), its parity from the sign bit. */
export function decodeAffine(raw: Uint8Array): Affine {
  const bytes = Buffer.from(raw);
  const sign = (bytes[31] as number) >> 7;
  bytes[31] = (bytes[31] as number) & 0x7f;
  const y = modP(fromLe(bytes));
  const x = sqrt(modP((y * y - 1n) * inv(D * y * y + 1n)));
  if (x === undefined) throw new Error(`${Buffer.from(raw).toString('hex')} is not a point`);
  return { x: Number(x & 1n) === sign ? x : modP(-x), y };
}

export function encodeAffine(point: Affine): Buffer {
  const out = le32(point.y);
  out[31] = (out[31] as number) | (Number(point.x & 1n) << 7);
  return out;
}

/** Affine addition on -x^2 + y^2 = 1 + d x^2 y^2. */
export function addAffine(p: Affine, q: Affine): Affine {
  const t = modP(D * p.x * q.x * p.y * q.y);
  return {
    x: modP((p.x * q.y + p.y * q.x) * inv(1n + t)),
    y: modP((p.y * q.y + p.x * q.x) * inv(1n - t)),
  };
}
