/**
 * Which spellings of a package URL name one package, for telling claims
 * about one product apart from claims about two (internal). Product keys
 * are stored as the document spells them; only their comparison uses this.
 *
 * @module
 */

import { cpeIdentity } from './cpe.js';

/** How one type's namespace, name and version compare: the case the purl type definitions ask them in, and pypi's `_` read as `-`. */
interface TypeRule {
  readonly namespace?: 'lower' | 'upper';
  readonly name?: 'lower';
  /** The name's `_` read as `-` (PyPI treats them as one character). */
  readonly dash?: true;
  readonly version?: 'lower';
}

const LOWER: TypeRule = { namespace: 'lower', name: 'lower' };

/**
 * The types whose purl type definitions say a part is not case sensitive
 * (and must be written in one case), or normalized: namespace and name for
 * `alpm`, `apk`, `bitbucket`, `composer`, `deb`, `github`, `hex`, `luarocks`
 * and `pypi` (which also reads `_` as `-`); the name alone for `bitnami`,
 * `oci` and `pub`; the namespace alone for `qpkg` and `rpm` (whose name is
 * case sensitive); the `huggingface` version (a commit hash); the `cpan`
 * author id in upper case. Not `npm` or `golang`, though the definitions
 * ask for lower case: npm names from before the rule (`JSONStream`) and Go
 * module paths are case sensitive, and two such packages differing in case
 * are two packages. Every other type compares as written.
 */
const TYPE_RULES: ReadonlyMap<string, TypeRule> = new Map<string, TypeRule>([
  ['alpm', LOWER],
  ['apk', LOWER],
  ['bitbucket', LOWER],
  ['bitnami', { name: 'lower' }],
  ['composer', LOWER],
  ['cpan', { namespace: 'upper' }],
  ['deb', LOWER],
  ['github', LOWER],
  ['hex', LOWER],
  ['huggingface', { version: 'lower' }],
  ['luarocks', LOWER],
  ['oci', { name: 'lower' }],
  ['pub', { name: 'lower' }],
  ['pypi', { ...LOWER, dash: true }],
  ['qpkg', { namespace: 'lower' }],
  ['rpm', { namespace: 'lower' }],
]);

/** `path` (namespace segments, then the name) and `version` as `rule` compares them; decoded text in, decoded text out. */
function byRule(rule: TypeRule, path: readonly string[], version: string | undefined): [string[], string | undefined] {
  const last = path.length - 1;
  const ruled = path.map((segment, i) => {
    const how = i === last ? rule.name : rule.namespace;
    const cased = how === 'lower' ? segment.toLowerCase() : how === 'upper' ? segment.toUpperCase() : segment;
    return i === last && rule.dash === true ? cased.replaceAll('_', '-') : cased;
  });
  return [ruled, version !== undefined && rule.version === 'lower' ? version.toLowerCase() : version];
}

const SCHEME = /^pkg:/i;

/**
 * A purl already in the one form: lower-case type, segments and version of
 * only the characters `encodeURIComponent` leaves as they are (so the full
 * reading below would return it unchanged), no qualifiers or subpath
 * (its type's {@link TYPE_RULES} still apply).
 */
const PLAIN = /^pkg:[a-z][a-z0-9.+-]*(\/[\w.!~*'()-]+)+(@[\w.!~*'()-]+)?$/;

const SLASH = 0x2f;

/**
 * `text` without the slashes it ends in. A loop: the pattern `/\/+$/`
 * backtracks quadratically over a long run of slashes that is not at the
 * end, so one purl of a megabyte of slashes held a backfill for minutes.
 */
export function withoutTrailingSlashes(text: string): string {
  let end = text.length;
  while (end > 0 && text.charCodeAt(end - 1) === SLASH) end -= 1;
  return end === text.length ? text : text.slice(0, end);
}

/** Percent-decoded text; throws on a malformed escape. */
const decoded = (part: string): string => decodeURIComponent(part);

/** A path's segments, decoded, without empty ones (and, for a subpath, without `.` and `..`). */
function segments(path: string, subpath: boolean): string[] {
  return path
    .split('/')
    .filter((s) => s !== '' && !(subpath && (s === '.' || s === '..')))
    .map(decoded);
}

/** A purl of {@link PLAIN} form as the full reading gives it, {@link TYPE_RULES} applied (none changes a character `encodeURIComponent` would escape). */
function plainByRule(rule: TypeRule, purl: string, typeEnd: number): string {
  const slash = purl.lastIndexOf('/');
  const at = purl.indexOf('@', slash);
  const [path, version] = byRule(
    rule,
    purl.slice(typeEnd + 1, at < 0 ? undefined : at).split('/'),
    at < 0 ? undefined : purl.slice(at + 1),
  );
  return `${purl.slice(0, typeEnd + 1)}${path.join('/')}${version === undefined ? '' : `@${version}`}`;
}

/**
 * The package URL `purl` in one form for every spelling the Package URL
 * specification reads as the same package: scheme, type and qualifier keys
 * in any case, `pkg://`, leading and trailing slashes, percent-encoding of
 * any character, qualifiers in any order, empty qualifiers, empty, `.` and
 * `..` subpath segments; and the parts its type's definition reads in any
 * case, or normalizes (see {@link TYPE_RULES}: `github`, `pypi`, `deb`…
 * namespace and name in any case, `pypi` `_` for `-`). Text that is no
 * package URL, or one that cannot be read, is returned as it is.
 */
export function purlIdentity(purl: string): string {
  if (!SCHEME.test(purl)) return purl;
  if (PLAIN.test(purl)) {
    const typeEnd = purl.indexOf('/');
    const rule = TYPE_RULES.get(purl.slice(4, typeEnd));
    return rule === undefined ? purl : plainByRule(rule, purl, typeEnd);
  }
  let rest = purl.slice('pkg:'.length).replace(/^\/+/, '');
  let subpath = '';
  const hash = rest.indexOf('#');
  if (hash >= 0) [rest, subpath] = [rest.slice(0, hash), rest.slice(hash + 1)];
  let query = '';
  const question = rest.indexOf('?');
  if (question >= 0) [rest, query] = [rest.slice(0, question), rest.slice(question + 1)];
  rest = withoutTrailingSlashes(rest);
  let version: string | undefined;
  const at = rest.lastIndexOf('@');
  if (at > rest.lastIndexOf('/')) [rest, version] = [rest.slice(0, at), rest.slice(at + 1)];
  const slash = rest.indexOf('/');
  if (slash <= 0) return purl;
  const type = rest.slice(0, slash).toLowerCase();
  try {
    let path = segments(rest.slice(slash + 1), false);
    if (path.length === 0) return purl;
    let read = version === undefined || version === '' ? undefined : decoded(version);
    const rule = TYPE_RULES.get(type);
    if (rule !== undefined) [path, read] = byRule(rule, path, read);
    const qualifiers = query
      .split('&')
      .map((pair) => {
        const eq = pair.indexOf('=');
        return eq < 0 ? ['', ''] : [pair.slice(0, eq).toLowerCase(), decoded(pair.slice(eq + 1))];
      })
      .filter(([key, value]) => key !== '' && value !== '')
      .sort(([a], [b]) => (a! < b! ? -1 : a! > b! ? 1 : 0));
    const encoded = (s: string): string => encodeURIComponent(s);
    const within = segments(subpath, true);
    return (
      `pkg:${type}/${path.map(encoded).join('/')}` +
      (read === undefined ? '' : `@${encoded(read)}`) +
      (qualifiers.length === 0 ? '' : `?${qualifiers.map(([k, v]) => `${k}=${encoded(v!)}`).join('&')}`) +
      (within.length === 0 ? '' : `#${within.map(encoded).join('/')}`)
    );
  } catch {
    return purl;
  }
}

/**
 * A product key in the form that compares it: each package URL in it (a
 * key may join two, `platform::component`) as {@link purlIdentity} gives
 * it, each CPE as {@link cpeIdentity} does. A 2.2 URI CPE may hold `::` (an
 * empty component), so a key that is one whole is not split; a joined key
 * read from its text alone may be split inside one, so callers that join
 * keys compare the join of each part's identity instead.
 */
export function productIdentity(key: string): string {
  if (!/pkg:|cpe:/i.test(key)) return key;
  if (!key.includes('::')) return partIdentity(key);
  if (/^cpe:\//i.test(key)) {
    const whole = cpeIdentity(key);
    if (whole !== key) return whole;
  }
  return key.split('::').map(partIdentity).join('::');
}

const partIdentity = (part: string): string => (/^cpe:/i.test(part) ? cpeIdentity(part) : purlIdentity(part));
