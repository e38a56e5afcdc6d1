/**
 * A small reader of `vers:` version ranges (the Package URL project's
 * version range specifier), as CycloneDX `affects[].versions[].range`
 * gives them: enough to say whether a plain numeric version
 * (`1`, `1.2`, `1.2.3`, …) is in a range whose bounds are plain numeric
 * versions too. Anything else (pre-releases, epochs, letters, a scheme's
 * own ordering) is not decided here, and neither is the order of two
 * versions that differ only in trailing zero parts (`1.2` and `1.2.0`)
 * outside the schemes that read them as one (see {@link ZERO_PADDED}).
 *
 * @module
 */

type Comparator = '=' | '!=' | '<' | '<=' | '>' | '>=';

interface Constraint {
  readonly comparator: Comparator;
  readonly version: readonly number[];
}

const NUMERIC = /^(0|[1-9][0-9]{0,8})(\.(0|[1-9][0-9]{0,8}))*$/;

/** A plain numeric version's parts, or undefined for any other version. */
function numeric(version: string): readonly number[] | undefined {
  return NUMERIC.test(version) ? version.split('.').map(Number) : undefined;
}

/**
 * The schemes whose versions compare with missing trailing parts as 0, so
 * that `1.2` is `1.2.0`: PEP 440 (`pypi`), Maven, NuGet, RubyGems (`gem`)
 * and Composer. Elsewhere they do not: `deb`, `rpm`, `alpine`, `alpm`,
 * `gentoo` order `1.2` before `1.2.0`; the semver schemes (`npm`, `cargo`,
 * `golang`…) have no version `1.2`; `generic` says nothing. Whether a
 * version is in a range may then turn on it, and is not decided here.
 */
const ZERO_PADDED: ReadonlySet<string> = new Set(['pypi', 'maven', 'nuget', 'gem', 'composer']);

/** Compares two numeric versions, missing trailing parts being 0 (`1.2` = `1.2.0`). */
function compare(a: readonly number[], b: readonly number[]): number {
  for (let i = 0; i < Math.max(a.length, b.length); i += 1) {
    const d = (a[i] ?? 0) - (b[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

function constraintOf(text: string): Constraint | undefined {
  const m = /^(>=|<=|!=|<|>|=)?(.*)$/.exec(text.trim());
  let raw: string;
  try {
    raw = decodeURIComponent(m?.[2]?.trim() ?? '');
  } catch {
    return undefined;
  }
  const version = numeric(raw);
  return version === undefined ? undefined : { comparator: (m?.[1] ?? '=') as Comparator, version };
}

/** Whether `a` and `b` differ only in trailing zero parts (`1.2`, `1.2.0`): equal or not, by scheme. */
const padded = (a: readonly number[], b: readonly number[]): boolean => a.length !== b.length && compare(a, b) === 0;

const holds = (c: Constraint, v: readonly number[]): boolean => {
  const d = compare(v, c.version);
  switch (c.comparator) {
    case '=':
      return d === 0;
    case '!=':
      return d !== 0;
    case '<':
      return d < 0;
    case '<=':
      return d <= 0;
    case '>':
      return d > 0;
    case '>=':
      return d >= 0;
  }
};

const isLower = (c: Constraint): boolean => c.comparator === '>' || c.comparator === '>=';
const isUpper = (c: Constraint): boolean => c.comparator === '<' || c.comparator === '<=';

/**
 * Whether `version` is in the `vers:` range `range`: `true` or `false`, or
 * `undefined` when that is not decided here (not a `vers:` URI, a version or
 * bound that is not plain numeric, constraints that do not make a range, or,
 * outside the schemes that read `1.2` as `1.2.0` ({@link ZERO_PADDED}), a
 * version and a bound, or two bounds, that differ only in trailing zeros).
 *
 * @example
 * ```ts
 * versContains('vers:npm/>=2.0.0|<3.0.0', '2.4.1'); // true
 * versContains('vers:npm/>=2.0.0|<3.0.0', '1.2.3'); // false
 * versContains('vers:npm/<2.0.0-rc.1', '1.0.0');    // undefined
 * ```
 */
export function versContains(range: string, version: string): boolean | undefined {
  const m = /^vers:([a-z0-9.+-]+)\/(.+)$/i.exec(range.trim());
  const v = numeric(version);
  if (m?.[1] === undefined || m[2] === undefined || v === undefined) return undefined;
  if (m[2].trim() === '*') return true;
  const constraints: Constraint[] = [];
  for (const text of m[2].split('|')) {
    const c = constraintOf(text);
    if (c === undefined) return undefined;
    constraints.push(c);
  }
  // Past this, versions are compared as if zero-padded: only where the scheme reads them so, or where padding decides nothing.
  const zeroPadded = ZERO_PADDED.has(m[1].toLowerCase());
  if (!zeroPadded && constraints.some((c) => padded(c.version, v))) return undefined;
  // The spec's check: an equality decides, an inequality can only exclude; then the rest, in version order,
  // must alternate lower and upper bounds (an upper bound first, a lower one last, each open-ended).
  for (const c of constraints) {
    if (c.comparator === '=' && holds(c, v)) return true;
    if (c.comparator === '!=' && !holds(c, v)) return false;
  }
  const bounds = constraints.filter((c) => c.comparator !== '=' && c.comparator !== '!=').sort((x, y) => compare(x.version, y.version));
  if (bounds.length === 0) return constraints.some((c) => c.comparator === '!=');
  // Bounds alike but for trailing zeros sort next to one another: if two of them differ in length, two neighbours do.
  if (!zeroPadded && bounds.some((c, i) => i > 0 && padded(c.version, (bounds[i - 1] as Constraint).version))) return undefined;
  // Each bound's kind must alternate with the next's: lower, upper, lower, … (an upper bound may come first).
  for (let i = 1; i < bounds.length; i += 1) {
    if (isLower(bounds[i] as Constraint) === isLower(bounds[i - 1] as Constraint)) return undefined;
  }
  for (let i = 0; i < bounds.length; i += 1) {
    const c = bounds[i] as Constraint;
    const next = bounds[i + 1];
    if (isUpper(c)) {
      if (holds(c, v)) return true;
    } else if (next === undefined) {
      return holds(c, v);
    } else {
      if (holds(c, v) && holds(next, v)) return true;
      i += 1;
    }
  }
  return false;
}
