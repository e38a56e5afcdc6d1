/**
 * `npm run bench [case…]`: runs each benchmark case in its own process, so
 * one case's memory never shows up in another's peak RSS. With no
 * arguments it runs every case; `BENCH_CASES=a,b` also selects.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

const dir = join(process.cwd(), 'bench', 'cases');
const all = readdirSync(dir)
  .filter((f) => f.endsWith('.ts'))
  .map((f) => f.replace(/\.ts$/, ''))
  .sort((a, b) => (a === 'dataset' ? -1 : b === 'dataset' ? 1 : a.localeCompare(b)));
const wanted = process.argv.slice(2).length ? process.argv.slice(2) : (process.env.BENCH_CASES?.split(',').filter(Boolean) ?? all);
// Some cases measure the compiled package in plain-node children.
if (spawnSync('npm', ['run', '--silent', 'build'], { stdio: 'inherit' }).status !== 0) process.exit(1);
let failed = 0;
for (const name of wanted) {
  const file = join(dir, `${name}.ts`);
  if (!existsSync(file)) {
    console.error(`unknown bench case ${name}; known: ${all.join(', ')}`);
    failed += 1;
    continue;
  }
  const r = spawnSync(process.execPath, ['--expose-gc', '--import', 'tsx', file], { stdio: 'inherit' });
  if (r.status !== 0) failed += 1;
}
process.exit(failed ? 1 : 0);
