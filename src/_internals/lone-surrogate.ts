/**
 * Half of a UTF-16 surrogate pair with no other half: with the `u` flag a
 * pair is one code point, so only a lone half matches. UTF-8 cannot encode
 * one (it becomes U+FFFD), nor PostgreSQL text hold one.
 * (`String.prototype.isWellFormed` is ES2024, past this package's lib.)
 *
 * @module
 */
export const LONE_SURROGATE = /\p{Surrogate}/u;
