/**
 * The quick way through a config file that has no mistakes in it.
 *
 * The `yaml` package knows where every node stood, which is what FILE:LINE:COL messages need, but it
 * parses ~1 MB/s: 5 s for a config of 100,000 jobs, half the start-up budget, and 1.5 KB a job of
 * document kept while it runs. js-yaml (YAML 1.2 core schema, as `yaml`'s default) parses the same
 * text 7x faster without positions. So a file is read by js-yaml first, and by `yaml` only when a
 * position is asked for (a problem to report) or when js-yaml's answer might differ from `yaml`'s:
 * a syntax error, a tag (`!!float 1` is a number to one and a string to the other), or an alias
 * (the `yaml` path caps how many there may be). The positions of mapping keys written in block style
 * (all that a job's place needs) come from a line scan, blockKeyPositions().
 */
import { CORE_SCHEMA, load } from 'js-yaml';
import type { Position } from './yaml-source.js';

/** A tag indicator at the start of a node (`!!str`, `!local`); `!` inside words and quotes is not one, but counts too (a false alarm only costs the slow path). */
const TAG_RE = /(?:^|[\s[{,:-])!/m;

/** The value of YAML text when js-yaml's reading of it is sure to equal `yaml`'s, else undefined. */
export function fastYamlValue(text: string): { value: unknown } | undefined {
  if (TAG_RE.test(text)) return undefined;
  let value: unknown;
  try {
    // json: false makes a duplicate key an error (then `yaml` reports it with its place).
    value = load(text, { schema: CORE_SCHEMA, json: false });
  } catch {
    return undefined;
  }
  return hasSharedNodes(value) ? undefined : { value };
}

/** True when an object or array is reachable twice: an alias, which js-yaml shares and `yaml` counts. */
function hasSharedNodes(root: unknown): boolean {
  const seen = new Set<object>();
  const stack: unknown[] = [root];
  while (stack.length > 0) {
    const v = stack.pop();
    if (v === null || typeof v !== 'object') continue;
    if (seen.has(v)) return true;
    seen.add(v);
    for (const child of Array.isArray(v) ? v : Object.values(v)) stack.push(child);
  }
  return false;
}

const KEY_RE = /^([A-Za-z0-9_.$-][^:#\s]*|"[^"\\]*"|'[^']*')[ \t]*:(?:[ \t]|$)/;

/**
 * Where each key of a block mapping stands, by JSON pointer (`/jobs/backup` -> line 4, col 3), from
 * a scan of the lines. Keys inside sequences, flow collections or block scalars are not listed;
 * callers ask the `yaml` document for what is missing.
 */
export function blockKeyPositions(text: string): Map<string, Position> {
  const out = new Map<string, Position>();
  /** Open mappings by indentation; path null under a sequence item (not listed). */
  const stack: Array<{ indent: number; path: string | null }> = [];
  let blockScalarOf = -1;
  let flowDepth = 0;
  let lineNo = 0;
  let start = 0;
  while (start <= text.length) {
    let end = text.indexOf('\n', start);
    if (end === -1) end = text.length;
    const line = text.slice(start, end).replace(/\r$/, '');
    start = end + 1;
    lineNo++;
    let indent = 0;
    while (line.charCodeAt(indent) === 32) indent++;
    const content = line.slice(indent);
    if (blockScalarOf >= 0) {
      if (content === '' || indent > blockScalarOf) continue;
      blockScalarOf = -1;
    }
    if (flowDepth > 0) {
      flowDepth = Math.max(0, flowDepth + bracketBalance(content));
      continue;
    }
    if (content === '' || content.startsWith('#') || content.startsWith('---') || content.startsWith('...')) continue;
    while (stack.length > 0 && stack[stack.length - 1]!.indent >= indent) stack.pop();
    if (content === '-' || content.startsWith('- ') || line.charCodeAt(indent) === 9) {
      stack.push({ indent, path: null });
      continue;
    }
    const m = KEY_RE.exec(content);
    if (!m) {
      // A key this scan cannot read (`a 0:`, say): what is nested under it must not pass for its parent's.
      stack.push({ indent, path: null });
      continue;
    }
    const parent = stack.length > 0 ? stack[stack.length - 1]!.path : '';
    const raw = m[1]!;
    const key = raw.startsWith('"') || raw.startsWith("'") ? raw.slice(1, -1) : raw;
    const path = parent === null ? null : `${parent}/${key.replace(/~/g, '~0').replace(/\//g, '~1')}`;
    if (path !== null && !out.has(path)) out.set(path, { line: lineNo, col: indent + 1 });
    stack.push({ indent, path });
    const rest = content.slice(m[0].length).trimStart();
    if (/^[|>]/.test(rest)) blockScalarOf = indent;
    else flowDepth = Math.max(0, bracketBalance(rest));
  }
  return out;
}

/** Opening minus closing brackets on a line, outside quotes and comments. */
function bracketBalance(s: string): number {
  let n = 0;
  let quote = '';
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (quote) {
      if (c === quote) quote = '';
      else if (c === '\\' && quote === '"') i++;
    } else if (c === '"' || c === "'") quote = c;
    else if (c === '#' && (i === 0 || s[i - 1] === ' ')) break;
    else if (c === '[' || c === '{') n++;
    else if (c === ']' || c === '}') n--;
  }
  return n;
}
