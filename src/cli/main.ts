/** The `watchbell` command: parses the verb and hands off to one small module per verb. */
import { isClientVerb, runClientVerb } from './client.js';
import { runDaemonCommand } from './daemon-command.js';
import { runEvents } from './events.js';
import { runNext } from './next.js';
import { UsageError } from './usage-error.js';
import { runValidate } from './validate.js';
import { VERSION } from '../daemon.js';

export const HELP = `watchbell ${VERSION}: a cron scheduler daemon with an admin REST API

Usage:
  watchbell daemon --config FILE [--data DIR] [--listen HOST:PORT] [--log-format json|pretty] [--log-level LEVEL] [--watch]
  watchbell validate FILE...
  watchbell next "EXPR" [--timezone ZONE] [-n N]
  watchbell jobs [--status S] [--tag T] [-q TEXT]
  watchbell run|pause|resume JOB_ID
  watchbell logs JOB_ID [EXECUTION_ID] [--tail N]
  watchbell events [--json] [--last-event-id ID]

Client verbs talk to a running daemon: --url (or WATCHBELL_URL, default http://127.0.0.1:8080)
and --token (or WATCHBELL_TOKEN).

Examples:
  watchbell daemon --config /etc/watchbell/watchbell.yaml
  watchbell validate config/watchbell.yaml      # and its include: files; in a pre-commit hook or CI
  watchbell daemon --config watchbell.yaml --watch   # reload when the file or an included one changes
  watchbell next "30 2 * * *" --timezone Europe/Berlin -n 3
  watchbell run backup-database && watchbell logs backup-database --tail 20
`;

/** Runs the CLI; resolves with the exit code (the daemon verb resolves only when it stops). */
export async function main(argv: string[]): Promise<number> {
  try {
    return await dispatch(argv);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    process.stderr.write(`watchbell: ${err.message}\n`);
    return 2;
  }
}

async function dispatch(argv: string[]): Promise<number> {
  const [verb, ...rest] = argv;
  switch (verb) {
    case 'daemon':
      return runDaemonCommand(rest);
    case 'validate':
      return runValidate(rest);
    case 'next':
      return runNext(rest);
    case 'events':
      return runEvents(rest);
    case '--version':
    case 'version':
      process.stdout.write(`${VERSION}\n`);
      return 0;
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(HELP);
      return verb === undefined ? 2 : 0;
    default:
      if (isClientVerb(verb)) return runClientVerb(verb, rest);
      process.stderr.write(`watchbell: unknown command ${JSON.stringify(verb)}\n\n${HELP}`);
      return 2;
  }
}
