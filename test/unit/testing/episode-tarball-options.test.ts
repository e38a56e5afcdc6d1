import { describe, expect, it } from 'vitest';
import { buildEpisodeTarball, type EpisodeTarballOptions } from '../../../src/testing/index.js';

describe('buildEpisodeTarball refuses a mistyped option as INVALID_ARGUMENT naming it (it was IO_ERROR with a TypeError text)', () => {
  it.for([
    ['mtime', { meta: {}, mtime: '2025-01-01' }],
    ['mtime', { meta: {}, mtime: 1_700_000_000_000 }],
    ['files["frames.bin"]', { meta: {}, files: { 'frames.bin': 5 } }],
    ['files["a.json"]', { meta: {}, files: { 'a.json': { a: 1 } } }],
    ['files', { meta: {}, files: 'frames.bin' }],
    ['meta', { meta: 1n }],
    ['meta', { meta: { size: 1n } }],
    // A function encodes as nothing: meta.json held the text "undefined".
    ['meta', { meta: () => ({}) }],
  ] as const)('%s: %o', async ([name, options]) => {
    const built = await buildEpisodeTarball(options as unknown as EpisodeTarballOptions);
    expect(built.isErr()).toBe(true);
    const error = built._unsafeUnwrapErr();
    expect(error.code).toBe('INVALID_ARGUMENT');
    expect(error.message.startsWith(`${name} must be `)).toBe(true);
  });

  it('still takes text and bytes members and a valid mtime', async () => {
    const built = await buildEpisodeTarball({ meta: { a: 1 }, files: { a: 'x', b: new Uint8Array([1]) }, mtime: new Date(0) });
    expect(built.isOk()).toBe(true);
  });
});
