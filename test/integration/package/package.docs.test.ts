import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

// The docs contract of STYLE.md: every symbol a subpath exports has a JSDoc
// summary, and every exported function and class also has an `@example`.
// typedoc (`npm run docs`, warnings as errors) checks summaries of the root
// entry; this checks every subpath of the exports map, and the examples.

const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));
const pkg = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { exports: Record<string, unknown> };
const entries = Object.keys(pkg.exports)
  .filter((k) => k !== './package.json')
  .map((k) => (k === '.' ? 'src/index.ts' : `src/${k.slice(2)}/index.ts`));

describe('public API documentation', () => {
  it('every export has a summary; every exported function and class has an @example', () => {
    const program = ts.createProgram(
      entries.map((e) => join(repoRoot, e)),
      {
        module: ts.ModuleKind.NodeNext,
        moduleResolution: ts.ModuleResolutionKind.NodeNext,
        target: ts.ScriptTarget.ES2022,
        strict: true,
        skipLibCheck: true,
        noEmit: true,
      },
    );
    const checker = program.getTypeChecker();
    const gaps = new Set<string>();
    let checked = 0;
    for (const entry of entries) {
      const source = program.getSourceFile(join(repoRoot, entry));
      expect(source, entry).toBeDefined();
      const moduleSymbol = checker.getSymbolAtLocation(source!);
      expect(moduleSymbol, entry).toBeDefined();
      for (const exported of checker.getExportsOfModule(moduleSymbol!)) {
        const symbol = exported.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(exported) : exported;
        checked += 1;
        const summary = ts.displayPartsToString(symbol.getDocumentationComment(checker)).trim();
        const callable = (symbol.flags & (ts.SymbolFlags.Function | ts.SymbolFlags.Class)) !== 0;
        const example = symbol.getJsDocTags(checker).some((t) => t.name === 'example');
        const file = symbol.declarations?.[0]?.getSourceFile().fileName.slice(repoRoot.length) ?? '?';
        if (summary === '') gaps.add(`${exported.name} (${file}): no summary`);
        if (callable && !example) gaps.add(`${exported.name} (${file}): no @example`);
      }
    }
    expect(checked).toBeGreaterThan(100);
    expect([...gaps].sort()).toEqual([]);
  }, 120_000);
});
