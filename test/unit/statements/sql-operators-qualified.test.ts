/**
 * The statements and partitions modules send their SQL under the
 * connection's own `search_path`, so every operator in it is written
 * `OPERATOR(pg_catalog.…)`: a bare `=` would be a look-alike's under
 * `search_path = app, pg_catalog`. The integration test
 * (`search-path-lookalikes.test.ts`) proves the statements it runs; this
 * reads every SQL text of the two `sql.ts` files, so a statement that only
 * runs on a rare path (a lock timeout's report, a foreign key's check)
 * cannot bring a bare one back either.
 */
import { readFileSync } from 'node:fs';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const FILES = ['src/statements/sql.ts', 'src/partitions/sql.ts'];

/** Every string and template literal of `file`, a template's substitutions replaced by `_`. */
function literals(file: string): { line: number; text: string }[] {
  const source = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true);
  const found: { line: number; text: string }[] = [];
  const visit = (node: ts.Node): void => {
    const line = source.getLineAndCharacterOfPosition(node.getStart(source)).line + 1;
    if (ts.isStringLiteral(node) || ts.isNoSubstitutionTemplateLiteral(node)) found.push({ line, text: node.text });
    else if (ts.isTemplateExpression(node))
      found.push({ line, text: [node.head.text, ...node.templateSpans.map((s) => s.literal.text)].join('_') });
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

/** `text` without what holds no operator: SQL string literals, quoted identifiers, comments, qualified operators and `SET` lists. */
function code(text: string): string {
  return text
    .replace(/--[^\n]*/g, ' ')
    .replace(/(?:\bE)?'(?:[^']|'')*'/g, "''")
    .replace(/"(?:[^"]|"")*"/g, '_')
    .replace(/OPERATOR\(pg_catalog\.[^)]+\)/g, ' ')
    .replace(/\bSELECT \*/g, 'SELECT _')
    .replace(/\bSET\b(?: LOCAL)?[^();]*/g, ' ');
}

/** A bare operator, or syntax that PostgreSQL turns into one it looks up by name. */
const BARE = [
  /\s(?:=|<>|!=|<=?|>=?|\|\||!?~~?\*?|->>?|#>>?|@>|<@|&&|%|\+|-|\*|\/|&|\^)\s/,
  /\bIN\s*\(/,
  /\bCASE\s+(?=\S)(?!WHEN\b)/,
  /\bBETWEEN\b/,
  /[^(]\bI?LIKE\b/,
  /\bSIMILAR TO\b/,
  /\bIS (?:NOT )?DISTINCT FROM\b/,
  /\bNULLIF\s*\(/,
  /\bUSING\s*\(/,
];

describe('SQL of the statements and partitions modules', () => {
  it.for(FILES)('%s names every operator with its schema', (file) => {
    const bare = literals(file)
      .map(({ line, text }) => ({ line, text: code(text) }))
      .filter(({ text }) => BARE.some((pattern) => pattern.test(text)))
      .map(({ line, text }) => `${file}:${line}: ${BARE.map((p) => p.exec(text)?.[0]).find((m) => m !== undefined)}`);
    expect(bare).toEqual([]);
  });

  it('finds a bare operator, an IN list and a CASE x WHEN', () => {
    for (const sql of ['WHERE a = $1', 'WHERE a IN (1, 2)', "CASE t.k WHEN 'd' THEN 1 END", 'seen_at > now() - interval']) {
      expect(
        BARE.some((pattern) => pattern.test(code(sql))),
        sql,
      ).toBe(true);
    }
    for (const sql of [
      'WHERE a OPERATOR(pg_catalog.=) $1',
      "UPDATE t SET a = 'x = y', b = NULL WHERE c OPERATOR(pg_catalog.=) $1",
      "SELECT pg_catalog.format('%I = %L', k, v) -- a = b",
    ]) {
      expect(
        BARE.some((pattern) => pattern.test(code(sql))),
        sql,
      ).toBe(false);
    }
  });
});
