/**
 * A deterministic measure of the work a synchronous call does, for tests
 * that check complexity ("the group is walked once, not once per item")
 * without a clock: timings fail on a loaded machine, counts do not.
 *
 * While `f` runs, the built-ins through which code walks and looks things
 * up count one step per element they touch:
 * - each `next()` of an array, Set or Map iterator (`for … of`, spreads,
 *   `entries()`, `Array.from`, destructuring);
 * - each Map or Set lookup, insertion or deletion;
 * - `push` and `unshift` per element added; `includes`, `indexOf`,
 *   `lastIndexOf` and the callback methods (`map`, `filter`, `some`, …)
 *   per element of the array they are called on; `concat`, `slice` and
 *   `join` per element of their result or array.
 *
 * The patches are in place only during the call and `f` must not await:
 * nothing else runs meanwhile, so nothing else is counted.
 */

type Method = (this: unknown, ...args: unknown[]) => unknown;

/** The steps `f` took and what it returned. */
export function stepsOf<T>(f: () => T): { readonly result: T; readonly steps: number } {
  let steps = 0;
  const restore: (() => void)[] = [];
  const patch = (target: object, name: PropertyKey, cost: (self: unknown, args: unknown[], result: unknown) => number): void => {
    const descriptor = Object.getOwnPropertyDescriptor(target, name);
    const original = descriptor?.value as Method | undefined;
    if (descriptor === undefined || typeof original !== 'function') throw new Error(`stepsOf: no method ${String(name)} to count`);
    Object.defineProperty(target, name, {
      ...descriptor,
      value: function (this: unknown, ...args: unknown[]): unknown {
        const result = original.apply(this, args);
        steps += cost(this, args, result);
        return result;
      },
    });
    restore.push(() => Object.defineProperty(target, name, descriptor));
  };
  const one = (): number => 1;
  const lengthOf = (self: unknown): number => (self as { length?: number }).length ?? 0;
  const iteratorProtos = [[][Symbol.iterator](), new Set().values(), new Map().entries()].map((i) => Object.getPrototypeOf(i) as object);
  try {
    for (const proto of iteratorProtos) patch(proto, 'next', one);
    for (const name of ['get', 'set', 'has', 'delete']) patch(Map.prototype, name, one);
    for (const name of ['add', 'has', 'delete']) patch(Set.prototype, name, one);
    for (const name of ['push', 'unshift']) patch(Array.prototype, name, (_self, args) => args.length);
    for (const name of [
      'includes',
      'indexOf',
      'lastIndexOf',
      'map',
      'filter',
      'forEach',
      'some',
      'every',
      'find',
      'findIndex',
      'reduce',
      'flatMap',
      'join',
    ])
      patch(Array.prototype, name, lengthOf);
    for (const name of ['concat', 'slice']) patch(Array.prototype, name, (_self, _args, result) => lengthOf(result));
    steps = 0; // the patching above counted its own loops
    const result = f();
    return { result, steps };
  } finally {
    for (const undo of restore.reverse()) undo();
  }
}
