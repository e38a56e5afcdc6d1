/**
 * Writes the README's error-code table from `ERROR_CODES` (src/errors.ts),
 * so the docs and the code cannot drift: `npm run docs:errors`.
 * test/unit/errors/errors.readme-table.test.ts fails when they differ.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { ERROR_CODES } from '../src/errors.js';

export const START = '<!-- error-table -->';
export const END = '<!-- /error-table -->';

/** The markdown table for every code. */
export function errorTable(): string {
  const rows = Object.entries(ERROR_CODES).map(([code, { summary, fix }]) => `| \`${code}\` | ${summary} | ${fix} |`);
  return ['| code | meaning | what to do |', '|---|---|---|', ...rows].join('\n');
}

/** The README with its table region replaced. */
export function withTable(readme: string): string {
  const start = readme.indexOf(START);
  if (start === -1) throw new Error(`README has no ${START} marker`);
  const end = readme.indexOf(END, start);
  const after = end === -1 ? readme.slice(start + START.length) : readme.slice(end + END.length);
  return `${readme.slice(0, start)}${START}\n${errorTable()}\n${END}${after}`;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  writeFileSync('README.md', withTable(readFileSync('README.md', 'utf8')));
}
