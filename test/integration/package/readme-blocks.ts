import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { consumerProject, packedPackage, repoRoot } from './packed.js';

/** A fenced ```ts block of the README. */
export interface ReadmeBlock {
  /** 1-based line of the opening fence. */
  readonly line: number;
  /** The code, with the fence's indentation removed. */
  readonly code: string;
  /** What the `<!-- readme-test: … -->` comment just above the fence says, if any. */
  readonly marker: 'run' | 'commonjs' | undefined;
}

const MARKER = /^\s*<!-- readme-test: (run|commonjs) -->\s*$/;

/** Every ```ts block, in document order, including those indented inside list items. */
export function readmeTsBlocks(markdown: string): ReadmeBlock[] {
  const lines = markdown.split('\n');
  const blocks: ReadmeBlock[] = [];
  for (let i = 0; i < lines.length; i += 1) {
    const open = /^(\s*)```ts\s*$/.exec(lines[i]!);
    if (!open) continue;
    const indent = open[1]!.length;
    const body: string[] = [];
    let j = i + 1;
    for (; j < lines.length && !/^\s*```\s*$/.test(lines[j]!); j += 1)
      body.push(lines[j]!.slice(Math.min(indent, lines[j]!.length - lines[j]!.trimStart().length)));
    if (j === lines.length) throw new Error(`README line ${i + 1}: the ts block is never closed`);
    let above = i - 1;
    while (above >= 0 && lines[above]!.trim() === '') above -= 1;
    const marker = above >= 0 ? (MARKER.exec(lines[above]!)?.[1] as ReadmeBlock['marker']) : undefined;
    blocks.push({ line: i + 1, code: `${body.join('\n')}\n`, marker });
    i = j;
  }
  return blocks;
}

/** The README's blocks as the two README test files use them, and the file each is written to. */
export const readme = (() => {
  const blocks = readmeTsBlocks(readFileSync(join(repoRoot, 'README.md'), 'utf8'));
  return {
    blocks,
    esmBlocks: blocks.filter((b) => b.marker !== 'commonjs'),
    runBlocks: blocks.filter((b) => b.marker === 'run'),
    cjsBlocks: blocks.filter((b) => b.marker === 'commonjs'),
  };
})();

/** The file a block is written to in its consumer project (tsc and readmeErrors map it back to the README line). */
export const fileOf = (b: ReadmeBlock): string => `readme-line-${b.line}.ts`;

/**
 * Two consumer projects of the packed package under `work`, with the README's
 * blocks written into them: `esm` (module nodenext, with tsx) holds every
 * block but the CommonJS one, `cjs` (CommonJS, with ts-node) holds that one.
 */
export async function readmeProjects(work: string): Promise<{ esm: string; cjs: string }> {
  const esm = join(work, 'esm');
  const cjs = join(work, 'cjs');
  const packed = await packedPackage();
  consumerProject(esm, packed, { type: 'module', tools: ['typescript', 'tsx', '@types/node', '@types/pg'] });
  consumerProject(cjs, packed, { type: 'commonjs', tools: ['typescript', 'ts-node', '@types/node'] });
  const compilerOptions = { target: 'es2022', strict: true, skipLibCheck: false, types: ['node'], noEmit: true };
  writeFileSync(join(esm, 'tsconfig.json'), JSON.stringify({ compilerOptions: { ...compilerOptions, module: 'nodenext' } }));
  // The declarations are checked once, in the ESM project; here only how they resolve from CommonJS.
  writeFileSync(
    join(cjs, 'tsconfig.json'),
    JSON.stringify({ compilerOptions: { ...compilerOptions, skipLibCheck: true, module: 'commonjs', esModuleInterop: true } }),
  );
  for (const b of readme.esmBlocks) writeFileSync(join(esm, fileOf(b)), b.code);
  for (const b of readme.cjsBlocks) writeFileSync(join(cjs, fileOf(b)), b.code);
  return { esm, cjs };
}

/** tsc's complaints, with the README line each one comes from. */
export function readmeErrors(output: string): string {
  return output.replace(
    /readme-line-(\d+)\.ts\((\d+),(\d+)\)/g,
    (_, fence: string, line: string, col: string) => `README.md:${Number(fence) + Number(line)}:${col}`,
  );
}
