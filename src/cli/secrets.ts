/**
 * Secrets the operator wrote on the command line (a password in `--pg
 * postgres://ops:pw@db/x`, `?password=`, `?sslpassword=`, the keyword
 * form's `Password=`; a private key pasted where its path belongs): masked
 * wherever the CLI shows what was typed (usage errors, logs, `--json`) and
 * in the process title that `ps` shows.
 *
 * @module
 */
import { readFileSync } from 'node:fs';
import { parsePgDsn } from '../_internals/pg-dsn.js';

/** A PEM private key (`-----BEGIN EC PRIVATE KEY-----` …), to its end line or the end of the text. */
const PRIVATE_KEY = /-----BEGIN ([A-Z0-9 ]*PRIVATE KEY)-----[\s\S]*?(?:-----END \1-----|$)/g;

/** What a password is shown as. */
const MASK = '***';

/** A URL's `scheme://user:` and what follows it. */
const URL_USERINFO = /(:\/\/[^/?#:]*:)([\s\S]*)/;

/**
 * `text` with each URL's password masked: from `scheme://user:` up to the
 * authority's last `@`. A password holding an unencoded `/`, `?` or `#`
 * ends the authority early for a URL parser, which then cannot read the
 * URL, but it is still the operator's password: when the authority holds
 * no `@` (and the user none), it runs to the last `@` before a blank.
 */
function maskUrlPasswords(text: string): string {
  const m = URL_USERINFO.exec(text);
  if (m === null) return text;
  const [, head = '', rest = ''] = m;
  const end = rest.search(/[/?#]/);
  const authority = end < 0 ? rest : rest.slice(0, end);
  // The loose reading stops at a blank: what follows is other text (a shell line's `echo a@b`), not the URL.
  const word = rest.split(/\s/, 1)[0] ?? '';
  const at = authority.includes('@') ? authority.lastIndexOf('@') : head.includes('@') ? -1 : word.lastIndexOf('@');
  const before = `${text.slice(0, m.index)}${head}`;
  return at < 0 ? `${before}${maskUrlPasswords(rest)}` : `${before}${MASK}${maskUrlPasswords(rest.slice(at))}`;
}

/** A URL's `password` and `sslpassword` parameters. */
const QUERY_PASSWORD = /([?&](?:ssl)?password=)[^&#]*/gi;
/** The keyword forms' password (Npgsql's `Password=`/`Pwd=`, libpq's `password=`, `SSL Password=`), quoted or up to the next `;`. */
const KEYWORD_PASSWORD = /((?:^|[;=\s])\s*(?:password|pwd|ssl\s*password)\s*=\s*)("(?:[^"\\]|\\.|"")*"|'(?:[^'\\]|\\.|'')*'|[^;]*)/gi;

/**
 * `text` with every password it carries as a connection string (a
 * `postgres://` URL's, a `password` or `sslpassword` parameter, a keyword
 * form's `Password=`) replaced by `***`, and every PEM private key by a
 * note naming its kind; the rest stays as written.
 *
 * @example
 * ```ts
 * maskSecrets('postgres://ops:s3cret@db/scanner?sslpassword=k'); // 'postgres://ops:***@db/scanner?sslpassword=***'
 * ```
 */
export function maskSecrets(text: string): string {
  const masked = maskUrlPasswords(text.replace(PRIVATE_KEY, '($1, not shown)'))
    .replace(QUERY_PASSWORD, `$1${MASK}`)
    .replace(KEYWORD_PASSWORD, `$1${MASK}`);
  // A password the patterns missed (written in a way they do not read) hides the whole text.
  const value = text.replace(/^-[^=]*=/, '');
  const password = parsePgDsn(value).match(
    (c) => c.password,
    () => undefined,
  );
  return password !== undefined && password !== '' && masked.includes(password) && !masked.includes(MASK)
    ? '(a connection string with a password, not shown)'
    : masked;
}

/** One typed word that carries a secret, and what to show instead. */
type Masked = readonly [typed: string, shown: string];

/**
 * The command-line words (and `--flag=value` values) that carry a secret,
 * longest first, each with its masked form.
 */
function maskedWords(argv: readonly string[]): readonly Masked[] {
  const words = argv.flatMap((word) => {
    const value = /^-[^=]*=(.+)$/s.exec(word)?.[1];
    return value === undefined ? [word] : [word, value];
  });
  const found = new Map<string, string>();
  for (const word of words) {
    const shown = maskSecrets(word);
    if (shown !== word) found.set(word, shown);
  }
  return [...found].sort(([a], [b]) => b.length - a.length);
}

/** `s` as it appears inside a JSON string. */
const inJson = (s: string): string => JSON.stringify(s).slice(1, -1);

/**
 * A function that masks, in text the CLI is about to print, each
 * command-line word of `argv` that carries a secret, as typed, as JSON
 * writes it (once, or twice when a message quotes it), and as `printable`
 * escapes it (so `--json` output stays valid JSON). Text without such
 * words comes back unchanged.
 */
export function secretScrubber(argv: readonly string[], printable: (text: string) => string): (text: string) => string {
  const masked = maskedWords(argv);
  if (masked.length === 0) return (text) => text;
  // A message quotes a word as JSON does (`got "…"`), and `--json` escapes the message once more.
  const pairs = masked.flatMap(([typed, shown]) => [
    [typed, shown],
    [inJson(typed), inJson(shown)],
    [inJson(inJson(typed)), inJson(inJson(shown))],
    [printable(typed), printable(shown)],
  ]);
  return (text) => pairs.reduce((out, [typed, shown]) => (typed === '' ? out : out.replaceAll(typed as string, shown as string)), text);
}

/**
 * Sets the process title (what `ps` and `/proc/<pid>/cmdline` show every
 * user of the host) to the command line with its secrets masked, when it
 * carries any. The title cannot grow past the original command line, so
 * the words are those exec gave (`/proc/self/cmdline` where there is one;
 * `process.argv` holds absolute paths), and a long one is cut at the end.
 */
export function maskProcessTitle(argv: readonly string[]): void {
  const masked = new Map(maskedWords(argv));
  if (masked.size === 0) return;
  let words: readonly string[];
  try {
    words = readFileSync('/proc/self/cmdline', 'utf8').replace(/\0$/, '').split('\0');
  } catch {
    words = [process.argv0, ...process.execArgv, process.argv[1] ?? '', ...argv];
  }
  try {
    process.title = words.map((word) => masked.get(word) ?? word).join(' ');
  } catch {
    // A platform that cannot set the title: nothing more can be done from inside the process.
  }
}
