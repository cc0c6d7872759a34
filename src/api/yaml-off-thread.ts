/**
 * YAML bodies are parsed in a worker thread: the `yaml` parser costs up to ~3 s of CPU per MiB (10 ms per
 * KiB for some shapes), and on the event loop one request would stall every other request and the
 * scheduler. One worker, started at the first YAML body and parsing one body at a time; a parse that takes
 * longer than PARSE_TIMEOUT_MS ends the worker (the next body starts a new one).
 */
import { Worker } from 'node:worker_threads';
import { WatchbellError, type ErrorCode, type FieldError } from '../jobs/errors.js';

/** Longest a YAML body may take to parse before it is refused. */
export const PARSE_TIMEOUT_MS = 5000;

type Reply = { id: number; value?: unknown; error?: { code: ErrorCode; message: string; details?: FieldError[] } };

let worker: Worker | undefined;
let nextId = 0;
// Parses run one after another: a second hostile body waits instead of taking the other core too.
let queue: Promise<unknown> = Promise.resolve();

/** Parses a YAML request body in the worker; rejects with the WatchbellError the parse threw. */
export function parseYamlOffThread(text: string): Promise<unknown> {
  const result = queue.then(() => parseOnce(text));
  queue = result.catch(() => undefined);
  return result;
}

function parseOnce(text: string): Promise<unknown> {
  const w = (worker ??= startWorker());
  const id = nextId++;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      done();
      if (worker === w) worker = undefined;
      void w.terminate();
      reject(new WatchbellError('INVALID_YAML', `request body took more than ${PARSE_TIMEOUT_MS / 1000} s to parse as YAML; send JSON, or a smaller document`));
    }, PARSE_TIMEOUT_MS);
    const onMessage = (reply: Reply) => {
      if (reply.id !== id) return;
      done();
      if (reply.error) reject(new WatchbellError(reply.error.code, reply.error.message, reply.error.details ? { details: reply.error.details } : {}));
      else resolve(reply.value);
    };
    const onExit = () => {
      done();
      if (worker === w) worker = undefined;
      reject(new WatchbellError('INVALID_YAML', 'request body could not be parsed as YAML (the parser stopped); send JSON, or a smaller document'));
    };
    const done = () => {
      clearTimeout(timer);
      w.off('message', onMessage);
      w.off('exit', onExit);
      w.unref();
    };
    w.ref();
    w.on('message', onMessage);
    w.once('exit', onExit);
    w.postMessage({ id, text });
  });
}

function startWorker(): Worker {
  // A thread of its own with a bounded heap: the parse's garbage stays out of the daemon's heap.
  const w = new Worker(new URL('./yaml-worker.js', import.meta.url), { resourceLimits: { maxOldGenerationSizeMb: 256 } });
  w.on('error', () => undefined);
  w.unref();
  return w;
}
