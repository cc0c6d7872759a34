/**
 * The `watchbell` command: finds the verb in the table (verbs.ts), parses its flags, and hands off to the
 * verb's module, imported only then. Nothing heavy is imported here: `--help` and `--version` load no more.
 */
import { closest, distance } from 'fastest-levenshtein';
import { VERSION } from '../version.js';
import { parseFlags, UsageError } from './usage-error.js';
import { findVerb, usageLine, verbHelp, VERBS } from './verbs.js';

const WIDTH = Math.max(...VERBS.map((v) => v.name.length));

export const HELP = `watchbell ${VERSION}: a cron scheduler daemon with an admin REST API

Usage:
${VERBS.map((v) => `  ${v.name.padEnd(WIDTH)}  ${v.summary}\n  ${' '.repeat(WIDTH)}  ${usageLine(v)}`).join('\n')}
  ${'version'.padEnd(WIDTH)}  print the version (also -v, --version)

Client verbs (jobs, run, pause, resume, logs, executions, cancel) talk to a running daemon:
--url (or WATCHBELL_URL, default http://127.0.0.1:8080) and --token (or WATCHBELL_TOKEN, else WATCHBELL_ADMIN_TOKEN).
"watchbell VERB --help" shows a verb's flags and examples.

Examples:
  watchbell daemon --config /etc/watchbell/watchbell.yaml
  watchbell validate config/watchbell.yaml      # and its include: files; in a pre-commit hook or CI
  watchbell daemon --config watchbell.yaml --watch   # reload when the file or an included one changes
  watchbell next "30 2 * * *" --timezone Europe/Berlin -n 3
  watchbell run backup-database && watchbell logs backup-database --follow
`;

/** Runs the CLI; resolves with the exit code (the daemon verb resolves only when it stops). */
export async function main(argv: string[]): Promise<number> {
  try {
    return await dispatch(argv);
  } catch (err) {
    if (err instanceof UsageError) {
      const usage = err.verb ? `usage: ${usageLine(err.verb)}\nrun "watchbell ${err.verb.name} --help" for more\n` : '';
      process.stderr.write(`watchbell: ${err.message}\n${usage}`);
      return 2;
    }
    // Client verbs' failures (an error answer, no daemon): one line, exit 1. By name: client.ts stays unloaded.
    if ((err as Error | null)?.name === 'ClientError') {
      process.stderr.write(`watchbell: ${(err as Error).message}\n`);
      return 1;
    }
    throw err;
  }
}

async function dispatch(argv: string[]): Promise<number> {
  const [word, ...rest] = argv;
  switch (word) {
    case undefined:
      process.stdout.write(HELP);
      return 2;
    case 'help':
    case '--help':
    case '-h': {
      const verb = rest[0] === undefined ? undefined : findVerb(rest[0]);
      if (rest[0] !== undefined && !verb) throw unknownVerb(rest[0]);
      process.stdout.write(verb ? verbHelp(verb) : HELP);
      return 0;
    }
    case 'version':
    case '--version':
    case '-v':
      process.stdout.write(`${VERSION}\n`);
      return 0;
  }
  const verb = findVerb(word);
  if (!verb) throw unknownVerb(word);
  if (asksForHelp(rest)) {
    process.stdout.write(verbHelp(verb));
    return 0;
  }
  const parsed = parseFlags(verb, rest);
  const command = await verb.load();
  return command(parsed);
}

/** True when `--help` or `-h` comes before any `--` (after it, they are arguments). */
function asksForHelp(args: readonly string[]): boolean {
  const end = args.indexOf('--');
  return (end === -1 ? args : args.slice(0, end)).some((a) => a === '--help' || a === '-h');
}

/** An unknown verb, with the closest known one when it is close enough to be a slip. */
function unknownVerb(word: string): UsageError {
  const names = [...VERBS.map((v) => v.name), 'version', 'help'];
  const prefixed = word.length >= 2 ? names.filter((n) => n.startsWith(word)) : [];
  const near = closest(word, names);
  // Two edits (a swapped pair of letters is two) is a slip in a word of 4 or more letters; in a shorter one, one.
  const guess = prefixed.length === 1 ? prefixed[0] : distance(word, near) <= (word.length >= 4 ? 2 : 1) ? near : undefined;
  const hint = guess ? `; did you mean "${guess}"?` : '';
  return new UsageError(`unknown command ${JSON.stringify(word)}${hint}\ncommands: ${names.join(', ')}; "watchbell --help" shows their usage`);
}

