import { beforeAll, describe, expect, it } from 'vitest';
import { needTools, tempDir } from '../../support/tmp.js';
import { typecheck } from './packed.js';
import { readme, readmeErrors, readmeProjects } from './readme-blocks.js';

// The README's TypeScript, as a user pastes it: every ```ts block compiles in
// a consumer project that installed the packed package (readme.test.ts runs
// the blocks marked to run). Only tsc decides here, the same on any Node, so
// CI's Node 22 run leaves this file out.

const tarTool = needTools('tar');
const work = tempDir('bk-readme-tsc-');
let esm: string;
let cjs: string;

beforeAll(async () => {
  if (tarTool.missing) return;
  ({ esm, cjs } = await readmeProjects(work));
}, 300_000);

describe.skipIf(tarTool.missing)(tarTool.title('the README compiles against the packed package'), () => {
  it('has the blocks the README tests rely on', () => {
    expect(readme.blocks.length).toBeGreaterThanOrEqual(10);
    expect(readme.runBlocks.length).toBeGreaterThanOrEqual(4);
    expect(readme.cjsBlocks).toHaveLength(1);
  });

  it('every ts block compiles as written (ESM, module nodenext, strict, with the package declarations checked)', () => {
    const r = typecheck(esm);
    expect(readmeErrors(r.output)).toBe('');
    expect(r.status).toBe(0);
  }, 120_000);

  it.each([
    ['commonjs', 'node10'],
    ['commonjs', 'bundler'],
    ['node16', 'node16'],
  ])(
    'the CommonJS block compiles in a CommonJS project (module %s, moduleResolution %s)',
    (module, resolution) => {
      const r = typecheck(cjs, ['--module', module, '--moduleResolution', resolution, '--ignoreDeprecations', '6.0']);
      expect(readmeErrors(r.output)).toBe('');
      expect(r.status).toBe(0);
    },
    120_000,
  );

  // TypeScript 7, the native compiler, dropped `moduleResolution: node10`; a
  // CommonJS project there resolves with `bundler` (its default) or `node16`.
  it.each([
    ['ESM, module nodenext', 'esm', []],
    ['CommonJS, module commonjs, moduleResolution bundler', 'cjs', ['--module', 'commonjs']],
    ['CommonJS, module node16', 'cjs', ['--module', 'node16', '--moduleResolution', 'node16']],
  ] as const)(
    'compiles with TypeScript 7 as well (%s)',
    (_, project, args) => {
      const r = typecheck(project === 'esm' ? esm : cjs, [...args], 'typescript-7');
      expect(readmeErrors(r.output)).toBe('');
      expect(r.output).not.toMatch(/error TS/);
      expect(r.status).toBe(0);
    },
    120_000,
  );
});
