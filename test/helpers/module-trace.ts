/**
 * `NODE_OPTIONS=--import=<this file>` with WATCHBELL_TEST_MODULE_TRACE=<file> makes a process record every module
 * it resolves in that file (module-trace-hooks.ts). `moduleTraceEnv()` gives a daemon under test that environment.
 */
import { readFile } from 'node:fs/promises';
import { register } from 'node:module';
import { fileURLToPath } from 'node:url';

const file = process.env.WATCHBELL_TEST_MODULE_TRACE;
if (file) register('./module-trace-hooks.js', { parentURL: import.meta.url, data: { file } });

/** The environment that makes a child process trace its modules into `traceFile`. */
export function moduleTraceEnv(traceFile: string): Record<string, string> {
  const preload = `--import "${fileURLToPath(import.meta.url)}"`;
  return { NODE_OPTIONS: [process.env.NODE_OPTIONS, preload].filter(Boolean).join(' '), WATCHBELL_TEST_MODULE_TRACE: traceFile };
}

/** The packages under node_modules that the traced process has loaded so far (e.g. `dockerode`, `@koa/router`). */
export async function loadedPackages(traceFile: string): Promise<Set<string>> {
  const text = await readFile(traceFile, 'utf8').catch(() => '');
  const names = new Set<string>();
  for (const url of text.split('\n')) {
    const m = /\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url);
    if (m) names.add(m[1]!);
  }
  return names;
}
