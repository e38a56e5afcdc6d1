/**
 * A small seeded PRNG (mulberry32), so fixtures are the same on every run
 * and every machine.
 *
 * @example
 * ```ts
 * const r = new SeededRandom(42);
 * const id = `ls-${r.hex(8)}`; // the same on every run
 * ```
 */
export class SeededRandom {
  #state: number;

  /**
   * @param seed - only its low 32 bits count: give a whole number from 0 to
   * 2^32 − 1, since `-1` and `2 ** 32 - 1`, `1.5` and `1`, or `NaN` and `0`
   * give the same sequence (the generators of this module refuse such seeds).
   */
  constructor(seed: number) {
    this.#state = seed >>> 0;
  }

  /** A float in [0, 1). */
  next(): number {
    this.#state = (this.#state + 0x6d2b79f5) >>> 0;
    let t = this.#state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** An integer in [min, max]. */
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }

  /** One element of a non-empty list (`undefined` for an empty one, whatever the type says). */
  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.next() * items.length)]!;
  }

  /** `n` lowercase hex digits. */
  hex(n: number): string {
    let s = '';
    while (s.length < n)
      s += Math.floor(this.next() * 0x100000000)
        .toString(16)
        .padStart(8, '0');
    return s.slice(0, n);
  }
}
