/**
 * A step's outputs file (`$WATCHBELL_OUTPUT`): `key=value` lines, and `key<<DELIM` ... `DELIM` blocks for values
 * of several lines, as GitHub Actions reads `$GITHUB_OUTPUT`. Pure: bytes in, outputs or one clear error out,
 * never a throw, whatever the step wrote.
 */

/** Largest outputs file a step may write. */
export const MAX_OUTPUTS_BYTES = 64 * 1024;

/** What an output key must look like: it becomes part of an environment variable's name. */
export const OUTPUT_KEY_RE = /^[A-Za-z_][A-Za-z0-9_]*$/;
const MAX_KEY = 128;

export type OutputsResult = { ok: true; outputs: Record<string, string> } | { ok: false; error: string };

/** Parses an outputs file; a later value of a key replaces an earlier one. */
export function parseOutputs(bytes: Uint8Array): OutputsResult {
  if (bytes.length > MAX_OUTPUTS_BYTES) {
    return { ok: false, error: `outputs file is ${bytes.length} bytes, more than the ${MAX_OUTPUTS_BYTES} (64 KiB) a step may write` };
  }
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    return { ok: false, error: 'outputs file is not valid UTF-8' };
  }
  if (text.includes('\0')) return { ok: false, error: 'outputs file holds a NUL byte, which no environment variable can' };
  const lines = text.split('\n').map((l) => (l.endsWith('\r') ? l.slice(0, -1) : l));
  // A final newline ends the last line rather than starting an empty one.
  if (lines.at(-1) === '') lines.pop();
  const outputs = new Map<string, string>();
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (line.trim() === '') continue;
    const where = `outputs file line ${i + 1}`;
    const heredoc = /^([^=]*?)<<(.*)$/.exec(line);
    const eq = line.indexOf('=');
    if (heredoc && (eq < 0 || eq > heredoc[1]!.length)) {
      const key = heredoc[1]!;
      const delimiter = heredoc[2]!;
      const bad = checkKey(key, where);
      if (bad) return { ok: false, error: bad };
      if (delimiter === '') return { ok: false, error: `${where}: "${key}<<" needs a delimiter, as in ${key}<<EOF` };
      const end = lines.indexOf(delimiter, i + 1);
      if (end < 0) return { ok: false, error: `${where}: ${key}<<${clip(delimiter)} is never closed: no line "${clip(delimiter)}" follows` };
      outputs.set(key, lines.slice(i + 1, end).join('\n'));
      i = end;
      continue;
    }
    if (eq < 0) return { ok: false, error: `${where}: ${JSON.stringify(clip(line))} is not key=value or key<<DELIMITER` };
    const key = line.slice(0, eq);
    const bad = checkKey(key, where);
    if (bad) return { ok: false, error: bad };
    outputs.set(key, line.slice(eq + 1));
  }
  return { ok: true, outputs: Object.fromEntries(outputs) };
}

function checkKey(key: string, where: string): string | null {
  if (key.length <= MAX_KEY && OUTPUT_KEY_RE.test(key)) return null;
  return `${where}: key ${JSON.stringify(clip(key))} is invalid; expected letters, digits and _, not starting with a digit, at most ${MAX_KEY} characters`;
}

function clip(text: string): string {
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}
