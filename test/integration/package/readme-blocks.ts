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
