import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { EXIT_CODES } from '../../../src/cli/exit-codes.js';
import { repoRoot } from './cli-harness.js';

describe('README command-line section', () => {
  const readme = readFileSync(join(repoRoot, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('<!-- cli -->'), readme.indexOf('## Errors'));

  it('lists every exit code with the meaning the CLI prints', () => {
    const rows = [...section.matchAll(/^\| (\d+) \| (.+) \|$/gm)].map((m) => [Number(m[1]), m[2]!.replaceAll('`', '')]);
    expect(rows).toEqual(Object.values(EXIT_CODES).map((e) => [e.code, e.meaning]));
  });
});
