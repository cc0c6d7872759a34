/** Worker thread entry: parses YAML request bodies off the event loop (yaml-off-thread.ts sends them). */
import { parentPort } from 'node:worker_threads';
import { isWatchbellError } from '../jobs/errors.js';
import { parseYamlBody } from './yaml-body.js';

parentPort?.on('message', ({ id, text }: { id: number; text: string }) => {
  try {
    parentPort!.postMessage({ id, value: parseYamlBody(text) });
  } catch (err) {
    const error = isWatchbellError(err)
      ? { code: err.code, message: err.message, details: err.details }
      : { code: 'INVALID_YAML', message: `request body is not usable YAML: ${(err as Error).message}` };
    parentPort!.postMessage({ id, error });
  }
});
