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

/** A name as Go's encoding/json matches it to a struct field: letters in any case (`ſ` as `s`, the Kelvin sign as `k`). */
function goFolded(name: string): string {
  return name.toLowerCase().toUpperCase();
}

/**
 * The first own key of `object` that Go's `encoding/json` reads as one of
 * `fields` though it is spelled otherwise (`Payload`, `PAYLOAD`, `ſubject`
 * for `payload` and `subject`), with the field it stands for, or
 * `undefined`. Go matches a struct field's name in any case and keeps the
 * last match, so beside the exact name such a key is a second value that
 * Go-based verifiers (cosign, in-toto-golang, sigstore-go) take and
 * `JSON.parse` readers do not.
 *
 * @internal
 */
export function caseVariantName(object: object, fields: readonly string[]): { key: string; field: string } | undefined {
  const byFolded = new Map(fields.map((field) => [goFolded(field), field]));
  for (const key of Object.keys(object)) {
    const field = byFolded.get(goFolded(key));
    if (field !== undefined && field !== key) return { key, field };
  }
  return undefined;
}
