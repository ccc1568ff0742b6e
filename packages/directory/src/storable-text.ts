/**
 * Text every database column takes. PostgreSQL stores no NUL (U+0000), in text or in JSON, and a
 * lone UTF-16 surrogate is no Unicode character at all (RFC 3629 §3): what a request sends may
 * hold either, and must neither fail a write as a 500 nor differ between SQLite and PostgreSQL.
 */

const UNSTORABLE = /\u0000|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const UNSTORABLE_ALL = new RegExp(UNSTORABLE.source, "g");

/** Whether `text` holds a NUL or a lone surrogate. */
export function hasUnstorableText(text: string): boolean {
  return UNSTORABLE.test(text);
}

/** `text` with each NUL and lone surrogate replaced by U+FFFD, for records of what was sent (the audit log). */
export function storableText(text: string): string {
  return UNSTORABLE.test(text) ? text.replace(UNSTORABLE_ALL, "\uFFFD") : text;
}
