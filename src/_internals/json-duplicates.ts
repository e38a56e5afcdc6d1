/**
 * The first name an object of `text` (valid JSON: `JSON.parse` accepted it)
 * holds twice, at any depth, or `undefined`. `JSON.parse` keeps the last of
 * two equal names and other readers the first, so a signed document with
 * one would be read one way here and another way elsewhere. Names are
 * compared decoded: `"p\u0061yload"` is `"payload"`.
 *
 * @internal
 */
export function duplicateName(text: string): string | undefined {
  /** One entry per open object (its names so far) or array (`null`). */
  const open: (Set<string> | null)[] = [];
  let nameNext = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22) {
      let j = i + 1;
      while (text.charCodeAt(j) !== 0x22) j += text.charCodeAt(j) === 0x5c ? 2 : 1;
      const names = open.at(-1);
      if (nameNext && names) {
        const name = JSON.parse(text.slice(i, j + 1)) as string;
        if (names.has(name)) return name;
        names.add(name);
        nameNext = false;
      }
      i = j;
    } else if (c === 0x7b) {
      open.push(new Set());
      nameNext = true;
    } else if (c === 0x5b) {
      open.push(null);
    } else if (c === 0x7d || c === 0x5d) {
      open.pop();
    } else if (c === 0x2c) {
      nameNext = open.at(-1) != null;
    }
  }
  return undefined;
}
