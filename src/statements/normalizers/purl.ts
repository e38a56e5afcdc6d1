/**
 * Which spellings of a package URL name one package, for telling claims
 * about one product apart from claims about two (internal). Product keys
 * are stored as the document spells them; only their comparison uses this.
 *
 * @module
 */

import { cpeIdentity } from './cpe.js';

/** Types whose namespace and name are case-insensitive (the purl type definitions); `pypi` also reads `_` as `-`. */
const CASELESS_TYPES: ReadonlySet<string> = new Set(['bitbucket', 'github', 'pypi']);

const SCHEME = /^pkg:/i;

/**
 * A purl already in the one form: lower-case type, segments and version of
 * only the characters `encodeURIComponent` leaves as they are (so the full
 * reading below would return it unchanged), no qualifiers or subpath, not
 * of a caseless type.
 */
const PLAIN = /^pkg:[a-z][a-z0-9.+-]*(\/[\w.!~*'()-]+)+(@[\w.!~*'()-]+)?$/;

/** Percent-decoded text; throws on a malformed escape. */
const decoded = (part: string): string => decodeURIComponent(part);

/** A path's segments, decoded, without empty ones (and, for a subpath, without `.` and `..`). */
function segments(path: string, subpath: boolean): string[] {
  return path
    .split('/')
    .filter((s) => s !== '' && !(subpath && (s === '.' || s === '..')))
    .map(decoded);
}

/** A purl of {@link PLAIN} form and a caseless type as the full reading gives it: namespace and name in lower case (`pypi`: `_` as `-`), the version as it is. */
function caselessPlain(type: string, purl: string): string {
  const slash = purl.lastIndexOf('/');
  const at = purl.indexOf('@', slash);
  const name = purl.slice(slash + 1, at < 0 ? undefined : at).toLowerCase();
  return `${purl.slice(0, slash + 1).toLowerCase()}${type === 'pypi' ? name.replaceAll('_', '-') : name}${at < 0 ? '' : purl.slice(at)}`;
}

/**
 * The package URL `purl` in one form for every spelling the Package URL
 * specification reads as the same package: scheme, type and qualifier keys
 * in any case, `pkg://`, leading and trailing slashes, percent-encoding of
 * any character, qualifiers in any order, empty qualifiers, empty, `.` and
 * `..` subpath segments; and for `github`, `bitbucket` and `pypi` the
 * namespace and name in any case (`pypi`: `_` for `-`). Text that is no
 * package URL, or one that cannot be read, is returned as it is.
 */
export function purlIdentity(purl: string): string {
  if (!SCHEME.test(purl)) return purl;
  if (PLAIN.test(purl)) {
    const type = purl.slice(4, purl.indexOf('/'));
    return CASELESS_TYPES.has(type) ? caselessPlain(type, purl) : purl;
  }
  let rest = purl.slice('pkg:'.length).replace(/^\/+/, '');
  let subpath = '';
  const hash = rest.indexOf('#');
  if (hash >= 0) [rest, subpath] = [rest.slice(0, hash), rest.slice(hash + 1)];
  let query = '';
  const question = rest.indexOf('?');
  if (question >= 0) [rest, query] = [rest.slice(0, question), rest.slice(question + 1)];
  rest = rest.replace(/\/+$/, '');
  let version: string | undefined;
  const at = rest.lastIndexOf('@');
  if (at > rest.lastIndexOf('/')) [rest, version] = [rest.slice(0, at), rest.slice(at + 1)];
  const slash = rest.indexOf('/');
  if (slash <= 0) return purl;
  const type = rest.slice(0, slash).toLowerCase();
  try {
    let path = segments(rest.slice(slash + 1), false);
    if (path.length === 0) return purl;
    if (CASELESS_TYPES.has(type)) path = path.map((s) => s.toLowerCase());
    if (type === 'pypi') path[path.length - 1] = (path[path.length - 1] as string).replaceAll('_', '-');
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
      (version === undefined || version === '' ? '' : `@${encoded(decoded(version))}`) +
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
