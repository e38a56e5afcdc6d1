import { describe, expect, it } from 'vitest';
import { BackfillError } from '../../../src/errors.js';
import { defaultVexNormalizers } from '../../../src/statements/defaults.js';
import { normalizeDocument } from '../../../src/statements/normalize.js';
import { generateAdvisoryChunks, generateLinksets, generateVexDocuments } from '../../../src/testing/index.js';

/** The error a call throws, when it throws before yielding anything (a bad option is refused at the call). */
function thrown(make: () => unknown): unknown {
  try {
    make();
  } catch (error) {
    return error;
  }
  return undefined;
}

describe('generateVexDocuments refuses bad options at the call, naming the option', () => {
  const bad: [string, Record<string, unknown>][] = [
    ['count', { count: -1 }],
    ['count', { count: Number.NaN }],
    ['count', { count: 2.5 }],
    ['count', { count: Number.POSITIVE_INFINITY }],
    ['count', { count: '3' }],
    ['seed', { seed: 'abc' }],
    ['seed', { seed: 1.5 }],
    ['seed', { seed: Number.NaN }],
    ['seed', { seed: -1 }],
    ['seed', { seed: 2 ** 32 }],
    ['seed', { seed: 1n }],
    ['brokenRatio', { brokenRatio: 2 }],
    ['brokenRatio', { brokenRatio: -0.1 }],
    ['brokenRatio', { brokenRatio: Number.NaN }],
    ['formats', { formats: [] }],
    ['formats', { formats: ['spdx'] }],
    ['formats', { formats: 'openvex' }],
    ['startAt', { startAt: new Date('not a date') }],
    ['startAt', { startAt: '2025-10-01' }],
    ['spacingMs', { spacingMs: Number.NaN }],
    ['spacingMs', { spacingMs: -1000 }],
    ['spacingMs', { spacingMs: 1e15, count: 100 }],
    ['productsPerDocument', { productsPerDocument: 0 }],
    ['productsPerDocument', { productsPerDocument: -3 }],
    ['productsPerDocument', { productsPerDocument: 2.5 }],
    ['vulnerabilitiesPerDocument', { vulnerabilitiesPerDocument: Number.NaN }],
    ['vulnerabilitiesPerDocument', { vulnerabilitiesPerDocument: -1 }],
    ['statusedProductsPerVulnerability', { statusedProductsPerVulnerability: 1.5 }],
  ];
  it.for(bad)('%s: %o', ([name, options]) => {
    const error = thrown(() => generateVexDocuments({ seed: 1, count: 3, ...options } as never));
    expect(error).toBeInstanceOf(BackfillError);
    expect((error as BackfillError).code).toBe('INVALID_ARGUMENT');
    expect((error as BackfillError).message).toMatch(new RegExp(`^${name} `));
  });

  it.for(['brokenratio', 'Count', 'format', 'products'])(
    'refuses a key that is no option, %s, naming it (it was ignored, leaving the default in force)',
    (key) => {
      const error = thrown(() => generateVexDocuments({ seed: 1, count: 3, [key]: 0 } as never));
      expect((error as BackfillError | undefined)?.code).toBe('INVALID_ARGUMENT');
      expect((error as BackfillError).message).toMatch(
        new RegExp(`^"${key}" is not an option of generateVexDocuments; the options are seed, count, brokenRatio,`),
      );
    },
  );

  it('takes the edges that make sense: count 0, seeds 0 and 2^32 - 1, ratios 0 and 1, no vulnerabilities, no statuses', () => {
    expect([...generateVexDocuments({ seed: 0, count: 0 })]).toEqual([]);
    expect([...generateVexDocuments({ seed: 2 ** 32 - 1, count: 3 })]).toHaveLength(3);
    expect([...generateVexDocuments({ seed: 1, count: 30, brokenRatio: 1 })].every((d) => d.kind === 'broken')).toBe(true);
    expect([...generateVexDocuments({ seed: 1, count: 30, brokenRatio: 0 })].some((d) => d.kind === 'broken')).toBe(false);
    const edges = generateVexDocuments({
      seed: 3,
      count: 60,
      brokenRatio: 0,
      formats: ['openvex', 'csaf'],
      productsPerDocument: 1,
      vulnerabilitiesPerDocument: 0,
      statusedProductsPerVulnerability: 0,
    });
    for (const d of edges) expect(normalizeDocument(defaultVexNormalizers, d)._unsafeUnwrap().claims).toHaveLength(d.expectedClaims);
  });

  it('every OpenVEX document of one product per statement normalizes to its expected claims', () => {
    for (const d of generateVexDocuments({ seed: 9, count: 200, brokenRatio: 0, formats: ['openvex'], productsPerDocument: 1 })) {
      expect(normalizeDocument(defaultVexNormalizers, d)._unsafeUnwrap().claims).toHaveLength(d.expectedClaims);
    }
  });
});

describe('generateLinksets and generateAdvisoryChunks refuse a count or seed that is not a whole number', () => {
  it.for([
    ['count', -1, 1],
    ['count', Number.NaN, 1],
    ['count', 2.5, 1],
    ['seed', 3, 1.5],
    ['seed', 3, -1],
  ] as const)('%s (%s, %s)', ([name, n, seed]) => {
    for (const make of [() => generateLinksets(n, seed), () => generateAdvisoryChunks(n, seed)]) {
      const error = thrown(make);
      expect((error as BackfillError | undefined)?.code).toBe('INVALID_ARGUMENT');
      expect((error as BackfillError).message).toMatch(new RegExp(`^${name} `));
    }
  });
});
