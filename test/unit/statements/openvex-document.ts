/** Test help: an OpenVEX 0.2.0 document around a list of statements. */

/** An OpenVEX 0.2.0 document (`@id` https://example.com/vex/1, issued 2026-01-01) holding `statements`. */
export const openVexDocument = (statements: readonly unknown[]): Record<string, unknown> => ({
  '@context': 'https://openvex.dev/ns/v0.2.0',
  '@id': 'https://example.com/vex/1',
  author: 'a',
  timestamp: '2026-01-01T00:00:00Z',
  version: 1,
  statements,
});
