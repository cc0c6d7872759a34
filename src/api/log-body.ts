/**
 * Sends a log's chunks (store/log-reader.ts) as a chunked `text/plain` answer, a chunk at a time: the next
 * chunk is read only once the last has been written to the socket. The reader reuses one buffer for all
 * its chunks, so a chunk must be out of our hands before the next is read; Koa's stream bodies give no
 * such signal, which is why this writes the answer itself.
 */
import type { ServerResponse } from 'node:http';
import type { Context } from 'koa';

/** Answers `ctx` with `chunks`; errors after the answer has begun end the connection and go to `logError`. */
export function sendLogBody(ctx: Context, chunks: AsyncIterable<Buffer>, logError: (err: unknown) => void): void {
  ctx.type = 'text/plain; charset=utf-8';
  ctx.status = 200;
  // The headers set so far (Koa writes them through to the response) go out with the first chunk.
  ctx.respond = false;
  const res = ctx.res;
  void pump(chunks, res, ctx.method === 'HEAD').catch((err: unknown) => {
    if (!res.destroyed) logError(err);
    res.destroy();
  });
}

async function pump(chunks: AsyncIterable<Buffer>, res: ServerResponse, head: boolean): Promise<void> {
  const it = chunks[Symbol.asyncIterator]();
  try {
    if (!head) {
      for (let next = await it.next(); !next.done; next = await it.next()) {
        if (!(await written(res, next.value))) return;
      }
    }
    res.end();
  } finally {
    // Ends a follow (its timer, its file) when the client went away in the middle.
    await it.return?.();
  }
}

/** Writes `chunk`; resolves true once the socket has taken it, false when the client has gone. */
function written(res: ServerResponse, chunk: Buffer): Promise<boolean> {
  if (res.destroyed) return Promise.resolve(false);
  return new Promise((resolve) => {
    const gone = () => resolve(false);
    res.once('close', gone);
    res.write(chunk, (err) => {
      res.off('close', gone);
      resolve(!err);
    });
  });
}
