import { describe, expect, it } from 'vitest';
import { parseManifest } from '../../../src/dataset/manifest.js';

/** JSON.parse keeps the last of two equal names, other readers the first: a manifest must say one thing. */
describe('a manifest that names something twice in one object', () => {
  it.each([
    ['members', '{"schemaVersion":1,"members":[{"name":"a.ndjson","records":9}],"members":[{"name":"a.ndjson","records":1}]}'],
    ['records', '{"schemaVersion":1,"members":[{"name":"a.ndjson","records":9,"records":1}]}'],
    [
      'sha256',
      `{"schemaVersion":1,"members":[{"name":"a.ndjson","records":1,"sha256":"${'a'.repeat(64)}","sha\\u0032\\u0035\\u0036":"${'b'.repeat(64)}"}]}`,
    ],
  ])('%s given twice is MANIFEST_INVALID', (name, text) => {
    const error = parseManifest(text)._unsafeUnwrapErr();
    expect(error.code).toBe('MANIFEST_INVALID');
    expect(error.message).toContain(`names "${name}" twice`);
  });

  it('the same name in different objects is fine', () => {
    expect(parseManifest('{"schemaVersion":1,"members":[{"name":"a.ndjson","records":1},{"name":"b.ndjson","records":2}]}').isOk()).toBe(
      true,
    );
  });
});
