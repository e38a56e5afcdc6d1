import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { needTools } from '../../support/tmp.js';
import { packedPackage, pkg, repoRoot, runNode, specifiers, type Packed } from './packed.js';

// The packed package's types, checked by @arethetypeswrong/cli in every
// resolution mode. Only TypeScript's resolution decides here, the same on any
// Node, so CI's Node 22 run leaves this file out.

const tarTool = needTools('tar');
let packed: Packed;

beforeAll(async () => {
  if (tarTool.missing) return;
  packed = await packedPackage();
}, 300_000);

describe.skipIf(tarTool.missing)(tarTool.title('the packed package'), () => {
  it('@arethetypeswrong/cli finds no problem in any resolution mode (node10, node16 from CJS and ESM, bundler)', () => {
    const attw = join(repoRoot, 'node_modules', '@arethetypeswrong', 'cli', 'dist', 'index.js');
    const r = runNode(repoRoot, [attw, packed.tarball, '--format', 'json']);
    const report = JSON.parse(r.stdout) as {
      analysis: {
        problems: { kind: string; entrypoint?: string; resolutionKind?: string }[];
        entrypoints: Record<string, { resolutions: Record<string, { resolution?: { fileName: string; isJson?: boolean } }> }>;
      };
    };
    expect(report.analysis.problems).toEqual([]);
    expect(r.status, r.stderr).toBe(0);
    for (const s of specifiers) {
      const entry = report.analysis.entrypoints[s === pkg.name ? '.' : `./${s.slice(pkg.name.length + 1)}`];
      expect(Object.keys(entry?.resolutions ?? {}).sort(), s).toEqual(['bundler', 'node10', 'node16-cjs', 'node16-esm']);
      for (const [mode, { resolution }] of Object.entries(entry!.resolutions))
        expect(resolution?.fileName, `${s} (${mode})`).toMatch(/\.d\.ts$/);
    }
  }, 120_000);
});
