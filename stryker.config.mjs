// StrykerJS over one module at a time (scripts/mutate.mjs picks it through WATCHBELL_MUTATE), with the tests that pin it.
// The command runner, not @stryker-mutator/mocha-runner: Stryker 9 (the last to run on Node 20) has a mocha
// runner for mocha < 12 only, and Stryker 10's needs Node 22. Each mutant runs mocha as a plain command.

/** Module (under src/) -> the compiled tests that must kill its mutants. */
export const MODULES = {
  'schedule/slot-queue.ts': ['schedule/slot-queue.test.js'],
  'store/job-journal.ts': ['store/journal.test.js', 'store/lowdb-store.test.js'],
  'run/retry.ts': ['run/retry.test.js'],
  'schedule/catch-up.ts': ['schedule/catch-up.test.js'],
  'notify/signature.ts': ['notify/messages.test.js', 'notify/webhook.test.js'],
  'jobs/duration.ts': ['jobs/duration.test.js'],
  'schedule/next-slot.ts': ['schedule/next-slot.test.js'],
  'api/auth.ts': ['api/auth.test.js'],
};

const module = process.env.WATCHBELL_MUTATE ?? 'schedule/slot-queue.ts';
const tests = MODULES[module];
if (!tests) throw new Error(`WATCHBELL_MUTATE=${module} is not one of: ${Object.keys(MODULES).join(', ')}`);

export default {
  testRunner: 'command',
  commandRunner: {
    command: `node ../../node_modules/mocha/bin/mocha.js --no-config --bail --timeout 60000 ${tests.map((t) => `dist/test/${t}`).join(' ')}`,
  },
  // The sandbox (.stryker-tmp/sandbox-*) is compiled like the project, with the project's node_modules two
  // levels up (the sandbox has none of its own); Stryker marks mutated files // @ts-nocheck.
  buildCommand: 'node ../../node_modules/typescript/bin/tsc -p .',
  mutate: [`src/${module}`],
  coverageAnalysis: 'off',
  concurrency: 1,
  timeoutMS: 10000,
  reporters: ['clear-text', 'json'],
  jsonReporter: { fileName: `reports/mutation/${module.replace(/[/.]/g, '-')}.json` },
  tempDirName: '.stryker-tmp',
  cleanTempDir: 'always',
};
