/** Text from the daemon made safe to print in a terminal table: one line, nothing that moves the cursor. */

// C0 controls and DEL, C1 controls, the Unicode line and paragraph separators, and the bidirectional
// overrides and isolates (which reorder what follows them on the line, hiding or faking a column).
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;
const NAMED: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };

/**
 * `text` with every control character escaped as `\n`, `\r`, `\t` or `\uXXXX`: a schedule holding `\r`
 * cannot overwrite its row's id, nor `\n` or U+2028 split a row.
 */
export function printable(text: string): string {
  return text.replace(UNSAFE, (c) => NAMED[c] ?? `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** Rows as columns padded to their widest cell, two spaces apart; every cell made printable. */
export function table(rows: readonly (readonly string[])[]): string {
  const safe = rows.map((r) => r.map(printable));
  // A loop, not Math.max(...cells): from about 150,000 rows the spread call throws RangeError.
  const widths = safe[0]!.map(() => 0);
  for (const r of safe) r.forEach((c, i) => (widths[i] = Math.max(widths[i]!, [...c].length)));
  return safe.map((r) => r.map((c, i) => c + ' '.repeat(widths[i]! - [...c].length)).join('  ').trimEnd()).join('\n') + '\n';
}
