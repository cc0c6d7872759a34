/** Bad command-line usage (exit 2), and flag parsing that says what was wrong without node:util's wording. */
import { parseArgs } from 'node:util';
import type { Parsed, Verb } from './verbs.js';

/** Thrown for bad command-line usage; the CLI prints the message (and the verb's usage line) and exits 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';

  constructor(
    message: string,
    /** The verb whose usage line to print after the message. */
    readonly verb?: Verb,
  ) {
    super(message);
  }
}

/** A verb's flags and positionals, checked against its table entry; throws UsageError naming what is wrong. */
export function parseFlags(verb: Verb, args: string[]): Parsed {
  const options = Object.fromEntries(Object.entries(verb.flags).map(([name, f]) => [name, f.short ? { type: f.type, short: f.short } : { type: f.type }]));
  let values: Record<string, string | boolean | undefined>;
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({ args: joinValues(verb, args), options, allowPositionals: true, strict: true }));
  } catch (err) {
    throw new UsageError(readable(err as Error & { code?: string }), verb);
  }
  const parsed: Parsed = {
    positionals,
    text: (name) => (typeof values[name] === 'string' ? (values[name] as string) : undefined),
    flag: (name) => values[name] === true,
  };
  const [min, max] = verb.positionals;
  const n = positionals.length;
  if (n < min) {
    const wanted = verb.args.split(' ').filter((w) => /^[A-Z"]/.test(w))[n] ?? 'an argument';
    throw new UsageError(`missing ${wanted.replace(/\.\.\.$/, '')}`, verb);
  }
  if (n > max) throw new UsageError(`unexpected argument ${JSON.stringify(positionals[max])}`, verb);
  return parsed;
}

/**
 * `--flag VALUE` written `--flag=VALUE` for every string flag, so a value that starts with `-` is taken as
 * the value it is (`--sort -last_run`), where node:util would refuse it as ambiguous.
 */
function joinValues(verb: Verb, args: readonly string[]): string[] {
  const byShort = new Map(Object.entries(verb.flags).filter(([, f]) => f.short).map(([name, f]) => [f.short!, name]));
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--') {
      out.push(...args.slice(i));
      break;
    }
    const name = a.startsWith('--') ? a.slice(2) : /^-[^-]$/.test(a) ? byShort.get(a.slice(1)) : undefined;
    if (name !== undefined && verb.flags[name]?.type === 'string' && i + 1 < args.length) out.push(`--${name}=${args[++i]}`);
    else out.push(a);
  }
  return out;
}

/** node:util's parse errors in our words: they name `--option <value>` and suggest `--` for positionals. */
function readable(err: Error & { code?: string }): string {
  const option = /'(-[^' ]*)/.exec(err.message)?.[1] ?? '';
  switch (err.code) {
    case 'ERR_PARSE_ARGS_UNKNOWN_OPTION':
      return `unknown option ${option}`;
    case 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE':
      return err.message.includes('argument missing') ? `${option} needs a value` : `${option} takes no value`;
    default:
      return err.message;
  }
}
