/** `watchbell validate FILE...`: checks config files without starting anything, for pre-commit hooks and CI. */
import { ConfigError, formatProblem, loadConfig } from '../config/load-config.js';
import type { Parsed } from './verbs.js';

/**
 * Prints every error as FILE:LINE:COL: message; exit 1 if any file is invalid, 0 with a summary otherwise.
 * Files named by a config's `include:` are checked with it; warnings (a pattern matching no file) go to stderr.
 */
export async function runValidate(args: Parsed): Promise<number> {
  const files = args.positionals;
  let failed = 0;
  for (const file of files) {
    try {
      const config = await loadConfig(file, { displayName: file });
      for (const w of config.warnings) process.stderr.write(`${formatProblem({ ...w, message: `warning: ${w.message}` })}\n`);
      const included = config.sources.files.length - 1;
      const from = included ? ` from ${included + 1} files` : '';
      process.stdout.write(`${file}: OK (${config.jobs.length} job${config.jobs.length === 1 ? '' : 's'}${from})\n`);
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      failed++;
      for (const p of err.problems) process.stderr.write(`${formatProblem(p)}\n`);
    }
  }
  return failed ? 1 : 0;
}
