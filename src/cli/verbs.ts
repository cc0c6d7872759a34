/**
 * Every verb of the `watchbell` command in one table: its usage, help, flags and the module that runs it.
 * The global help, each verb's `--help`, usage errors and shell completion are all made from this table,
 * so they cannot disagree. A verb's module is imported only when that verb runs: `watchbell --help` or
 * `watchbell validate` must not load the daemon.
 */
import { JOB_SORTS } from '../jobs/job.js';
import { holdYoungGeneration } from '../young-generation.js';

/** A flag as node:util parseArgs takes it; `value` names its value in help (none: a boolean flag). */
export interface Flag {
  type: 'string' | 'boolean';
  short?: string;
  value?: string;
  /** One line for `watchbell VERB --help`. */
  help: string;
  /** What shell completion offers for its value: file names, or a fixed list. */
  completes?: 'files' | readonly string[];
}

/** Flags and positionals as parsed for a verb. */
export interface Parsed {
  positionals: string[];
  /** A string flag's value, or undefined when it was not given. */
  text(name: string): string | undefined;
  /** True when a boolean flag was given. */
  flag(name: string): boolean;
}

export type Command = (args: Parsed) => Promise<number>;

export interface Verb {
  name: string;
  /** What follows the verb in its usage line, e.g. `JOB_ID [EXECUTION_ID]`. */
  args: string;
  /** One line for the global help. */
  summary: string;
  /** Paragraphs for `watchbell VERB --help`, after the usage line; examples last. */
  help: string;
  flags: Record<string, Flag>;
  /** How many positionals it takes, at least and at most. */
  positionals: readonly [number, number];
  /** Takes --url, --token and --json and talks to a running daemon. */
  client?: boolean;
  /** What `completion` offers for positionals: job ids (from the daemon), files, or a fixed list. */
  completes?: 'jobs' | 'files' | readonly string[];
  load(): Promise<Command>;
}

const CLIENT_FLAGS: Record<'url' | 'token' | 'json', Flag> = {
  url: { type: 'string', value: 'URL', help: 'the daemon: http://HOST:PORT or unix:/path (env WATCHBELL_URL; default http://127.0.0.1:8080)' },
  token: { type: 'string', value: 'TOKEN', help: 'an API token, when the daemon has api.tokens (env WATCHBELL_TOKEN, else WATCHBELL_ADMIN_TOKEN)' },
  json: { type: 'boolean', help: "print the API's JSON instead of text (see below)" },
};

const EXECUTION_STATUSES = ['queued', 'in_progress', 'waiting', 'success', 'failure', 'cancelled', 'skipped'] as const;

/** The verbs, in the order help lists them. */
export const VERBS: readonly Verb[] = [
  {
    name: 'daemon',
    args: '--config FILE [--data DIR] [--store URL] [--listen HOST:PORT] [--log-format json|pretty] [--log-level LEVEL] [--watch]',
    summary: 'run the scheduler and its API in the foreground',
    help: `Runs until SIGTERM or SIGINT; SIGHUP reloads the config. Flags override the file's daemon: keys.

Examples:
  watchbell daemon --config /etc/watchbell/watchbell.yaml
  watchbell daemon --config watchbell.yaml --watch     # reload when the file or an included one changes
  watchbell daemon --config watchbell.yaml --store 'postgres://watchbell@db:5432/watchbell?schema=watchbell'`,
    flags: {
      config: { type: 'string', short: 'c', value: 'FILE', help: 'the config file (env WATCHBELL_CONFIG)', completes: 'files' },
      data: { type: 'string', value: 'DIR', help: 'the data dir (daemon.data_dir)', completes: 'files' },
      store: { type: 'string', value: 'URL', help: 'keep jobs, executions and logs in PostgreSQL (daemon.store, env WATCHBELL_STORE)' },
      listen: { type: 'string', value: 'HOST:PORT', help: 'where the API listens, or unix:/path (daemon.listen)' },
      'log-format': { type: 'string', value: 'json|pretty', help: 'log lines as JSON (default) or for people', completes: ['json', 'pretty'] },
      'log-level': { type: 'string', value: 'LEVEL', help: 'trace, debug, info (default), warn, error or fatal', completes: ['trace', 'debug', 'info', 'warn', 'error', 'fatal'] },
      watch: { type: 'boolean', help: 'reload when the config file or an included one changes' },
    },
    positionals: [0, 0],
    load: () => {
      // Before any of the daemon's modules load: their loading is what would grow the young generation.
      holdYoungGeneration();
      return import('./daemon-command.js').then((m) => m.runDaemonCommand);
    },
  },
  {
    name: 'validate',
    args: 'FILE...',
    summary: 'check config files (and their include: files) without starting anything',
    help: `Prints every error as FILE:LINE:COL: message and exits 1, for pre-commit hooks and CI.

Examples:
  watchbell validate config/watchbell.yaml`,
    flags: {},
    positionals: [1, Infinity],
    completes: 'files',
    load: () => import('./validate.js').then((m) => m.runValidate),
  },
  {
    name: 'next',
    args: '"EXPR" [--timezone ZONE] [-n N]',
    summary: 'print the next run times of a schedule',
    help: `Examples:
  watchbell next "30 2 * * *" --timezone Europe/Berlin -n 3
  watchbell next "@every 90m"`,
    flags: {
      timezone: { type: 'string', value: 'ZONE', help: 'IANA time zone the expression is read in (default UTC)' },
      n: { type: 'string', short: 'n', value: 'N', help: 'how many run times, 1 to 1000 (default 5)' },
    },
    positionals: [1, 1],
    load: () => import('./next.js').then((m) => m.runNext),
  },
  {
    name: 'jobs',
    args: '[--status S] [--tag T] [-q TEXT] [--sort ORDER] [--ids | --json]',
    summary: 'list every job, page after page',
    help: `Prints ID, STATUS, SCHEDULE, NEXT RUN and LAST (the last run's status) of every job, fetching
pages of 1,000 until all are read. Control characters in any field are shown escaped (\\r, \\n, \\u2028).
--json prints one JSON array of the jobs as the API gives them (GET /api/v1/jobs).

Examples:
  watchbell jobs --status paused
  watchbell jobs --sort -last_run | head
  watchbell jobs --tag backup --json`,
    flags: {
      status: { type: 'string', value: 'S', help: 'only jobs with this status: active, paused or completed', completes: ['active', 'paused', 'completed'] },
      tag: { type: 'string', value: 'T', help: 'only jobs with this tag' },
      q: { type: 'string', short: 'q', value: 'TEXT', help: 'only jobs whose id, name, command or tags contain TEXT' },
      sort: { type: 'string', value: 'ORDER', help: 'id (default), -created_at, next_run or -last_run', completes: JOB_SORTS },
      ids: { type: 'boolean', help: 'print only the ids, one a line' },
      ...CLIENT_FLAGS,
    },
    positionals: [0, 0],
    client: true,
    load: () => import('./jobs-command.js').then((m) => m.runJobs),
  },
  ...(['run', 'pause', 'resume'] as const).map((action): Verb => ({
    name: action,
    args: 'JOB_ID...',
    summary: { run: 'run jobs now, paused or not', pause: 'stop firing jobs on their schedule', resume: 'fire paused jobs on their schedule again' }[action],
    help: `Acts on every job given, in order, and prints one line for each (prefixed with the id when there are
several); a job that fails is reported on stderr and the others are still done. Exits 1 if any failed.
--json prints the API's answer for each, one JSON object a line.

Examples:
  watchbell ${action} backup-database${action === 'run' ? ' && watchbell logs backup-database --follow' : ' report-daily report-weekly'}`,
    flags: { ...CLIENT_FLAGS },
    positionals: [1, Infinity],
    client: true,
    completes: 'jobs',
    load: () => import('./job-actions.js').then((m) => m.jobAction(action)),
  })),
  {
    name: 'logs',
    args: 'JOB_ID [EXECUTION_ID] [--tail N] [--stream stdout|stderr] [--step NAME] [--follow]',
    summary: "print an execution's log, or follow it live",
    help: `Without EXECUTION_ID: the newest execution that has output (with --follow: the newest one that ran).
--follow prints new output as it is written until the execution ends, like tail -f.

Examples:
  watchbell logs backup-database --tail 20
  watchbell logs backup-database --follow
  watchbell logs backup-database exec-01m8352h2e0000avfzps --stream stderr
  watchbell logs nightly-export --step upload --follow`,
    flags: {
      tail: { type: 'string', value: 'N', help: 'only the last N lines (--follow: then new output)' },
      stream: { type: 'string', value: 'stdout|stderr', help: 'only this stream (default: both, in the order written)', completes: ['stdout', 'stderr'] },
      follow: { type: 'boolean', short: 'f', help: 'keep printing new output until the execution ends' },
      step: { type: 'string', value: 'NAME', help: "only this step's part of the log (a job with steps)" },
      url: CLIENT_FLAGS.url,
      token: CLIENT_FLAGS.token,
    },
    positionals: [1, 2],
    client: true,
    completes: 'jobs',
    load: () => import('./logs-command.js').then((m) => m.runLogs),
  },
  {
    name: 'executions',
    args: '[JOB_ID] [--status S] [--limit N] [--json]',
    summary: "list executions, newest first: one job's, or all",
    help: `Prints ID, JOB, STATUS, TRIGGER, STARTED, DURATION and EXIT of the newest executions.
--json prints one JSON array of the executions as the API gives them.

Examples:
  watchbell executions --status in_progress
  watchbell executions backup-database --status failure --limit 5`,
    flags: {
      status: { type: 'string', value: 'S', help: `only executions with this status: ${EXECUTION_STATUSES.join(', ')}`, completes: EXECUTION_STATUSES },
      limit: { type: 'string', value: 'N', help: 'how many, 1 to 1000 (default 20)' },
      ...CLIENT_FLAGS,
    },
    positionals: [0, 1],
    client: true,
    completes: 'jobs',
    load: () => import('./executions-command.js').then((m) => m.runExecutions),
  },
  {
    name: 'cancel',
    args: 'JOB_ID EXECUTION_ID',
    summary: 'stop a queued or running execution',
    help: `Stops its whole process group (SIGTERM, then SIGKILL after kill_grace); no further retries.

Examples:
  watchbell cancel backup-database exec-01m8352h2e0000avfzps`,
    flags: { ...CLIENT_FLAGS },
    positionals: [2, 2],
    client: true,
    completes: 'jobs',
    load: () => import('./job-actions.js').then((m) => m.executionAction('cancel')),
  },
  {
    name: 'restart',
    args: 'JOB_ID EXECUTION_ID',
    summary: 'run a failed, cancelled or interrupted execution again, from its first step that did not succeed',
    help: `Starts a new execution (trigger "restart"). For a job with steps, the steps that succeeded (and are unchanged
since) are reused with their outputs; the rest run. For a job without steps, its command runs again.

Examples:
  watchbell restart nightly-export exec-01m8352h2e0000avfzps && watchbell logs nightly-export --follow`,
    flags: { ...CLIENT_FLAGS },
    positionals: [2, 2],
    client: true,
    completes: 'jobs',
    load: () => import('./job-actions.js').then((m) => m.executionAction('restart')),
  },
  {
    name: 'advance',
    args: 'JOB_ID EXECUTION_ID [KEY=VALUE...]',
    summary: 'let an execution waiting at a wait step go on, with outputs for the steps after it',
    help: `Each KEY=VALUE becomes an output of the wait step: later steps see it as WATCHBELL_STEP_<STEP>_<KEY>.
Cancel a waiting execution (watchbell cancel) to abort it instead.

Examples:
  watchbell advance nightly-export exec-01m8352h2e0000avfzps approved_by=alice ticket=OPS-42`,
    flags: { ...CLIENT_FLAGS },
    positionals: [2, Infinity],
    client: true,
    completes: 'jobs',
    load: () => import('./job-actions.js').then((m) => m.executionAction('advance')),
  },
  {
    name: 'events',
    args: '[--json] [--last-event-id ID]',
    summary: "print the daemon's live events, one line each, until stopped",
    help: `Follows GET /api/v1/events. A dropped connection is resumed with Last-Event-ID, so nothing recent is
missed; a "reset" line says the daemon no longer had some of what was missed. Exits 1 when the token is refused.

Examples:
  watchbell events
  watchbell events --json | jq -c 'select(.type == "execution.finished")'`,
    flags: {
      'last-event-id': { type: 'string', value: 'ID', help: 'resume after this event id' },
      ...CLIENT_FLAGS,
    },
    positionals: [0, 0],
    client: true,
    load: () => import('./events.js').then((m) => m.runEvents),
  },
  {
    name: 'store',
    args: 'copy --from DATA_DIR|URL --to URL|DATA_DIR [--force] [--data DIR]',
    summary: 'copy jobs, states, executions and logs between a data dir and PostgreSQL',
    help: `Stop the daemon first: a data dir in use is refused. Prints what it copied. A target that holds
anything is refused unless --force, which replaces what it holds. Log files stay in the local data
dir of a PostgreSQL store: the data dir end's, or --data DIR.

Examples:
  watchbell store copy --from /var/lib/watchbell --to 'postgres://watchbell@db:5432/watchbell?schema=watchbell'
  watchbell store copy --from "$WATCHBELL_STORE" --to /var/lib/watchbell-restored --force`,
    flags: {
      from: { type: 'string', value: 'DATA_DIR|URL', help: 'where to copy from', completes: 'files' },
      to: { type: 'string', value: 'URL|DATA_DIR', help: 'where to copy to (must be empty unless --force)', completes: 'files' },
      force: { type: 'boolean', help: 'replace what the target holds' },
      data: { type: 'string', value: 'DIR', help: 'the local dir of log files for a PostgreSQL end (default: the data dir end)', completes: 'files' },
    },
    positionals: [1, 1],
    completes: ['copy'],
    load: () => import('./store-command.js').then((m) => m.runStoreCommand),
  },
  {
    name: 'completion',
    args: 'bash|zsh',
    summary: 'print a shell completion script',
    help: `Completes verbs, flags and (from the daemon, when it answers) job ids.

Examples:
  source <(watchbell completion bash)                   # in ~/.bashrc
  watchbell completion zsh > "\${fpath[1]}/_watchbell"    # then restart zsh`,
    flags: {},
    positionals: [1, 1],
    completes: ['bash', 'zsh'],
    load: () => import('./completion.js').then((m) => m.runCompletion),
  },
];

/** The verb called `name`, if any. */
export function findVerb(name: string): Verb | undefined {
  return VERBS.find((v) => v.name === name);
}

/** `watchbell NAME ARGS`: the one usage line of a verb, used by help and usage errors alike. */
export function usageLine(verb: Verb): string {
  return `watchbell ${verb.name} ${verb.args}`;
}

/** `watchbell VERB --help`. */
export function verbHelp(verb: Verb): string {
  const flags = Object.entries(verb.flags).map(([name, f]) => {
    // A one-letter flag is shown as its short spelling only (`-n N`, not `-n, --n N`).
    const names = name.length === 1 ? `-${name}` : `${f.short ? `-${f.short}, ` : ''}--${name}`;
    const spelled = `${names}${f.value ? ` ${f.value}` : ''}`;
    return [spelled, f.help] as const;
  });
  const width = Math.max(0, ...flags.map(([s]) => s.length));
  const flagText = flags.length ? `\nFlags:\n${flags.map(([s, h]) => `  ${s.padEnd(width)}  ${h}`).join('\n')}\n` : '';
  return `usage: ${usageLine(verb)}\n\n${verb.summary[0]!.toUpperCase()}${verb.summary.slice(1)}.\n${flagText}\n${verb.help}\n`;
}
