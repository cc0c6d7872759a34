/** A test client of GET /api/v1/events: collects the events and awaits the one a test expects. */
import { request, type ClientRequest, type IncomingMessage } from 'node:http';
import { createParser } from 'eventsource-parser';

export interface SseEvent {
  id: string | undefined;
  type: string;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  data: any;
}

export class SseClient {
  readonly events: SseEvent[] = [];
  private waiters: Array<{ pred: (e: SseEvent) => boolean; resolve: (e: SseEvent) => void }> = [];
  private constructor(
    readonly req: ClientRequest,
    readonly res: IncomingMessage,
  ) {}

  /** Opens the stream; resolves once the answer's headers came (rejects on a non-200 answer). */
  static open(baseUrl: string, headers: Record<string, string> = {}): Promise<SseClient> {
    return new Promise((resolve, reject) => {
      const req = request(`${baseUrl}/api/v1/events`, { headers: { accept: 'text/event-stream', ...headers } }, (res) => {
        if (res.statusCode !== 200) {
          let body = '';
          res.on('data', (c: Buffer) => (body += c));
          res.on('end', () => reject(new Error(`events: ${res.statusCode} ${body}`)));
          return;
        }
        const client = new SseClient(req, res);
        const parser = createParser({
          onEvent: (m) => {
            let data: unknown = m.data;
            try {
              data = JSON.parse(m.data);
            } catch {
              // Not JSON: kept as text.
            }
            client.push({ id: m.id, type: m.event ?? 'message', data });
          },
        });
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => parser.feed(chunk));
        res.on('error', () => undefined);
        resolve(client);
      });
      req.on('error', reject);
      req.end();
    });
  }

  private push(e: SseEvent): void {
    this.events.push(e);
    this.waiters = this.waiters.filter((w) => {
      if (!w.pred(e)) return true;
      w.resolve(e);
      return false;
    });
  }

  /** The first event (seen or to come) that matches. */
  next(pred: (e: SseEvent) => boolean, timeoutMs = 15_000): Promise<SseEvent> {
    const seen = this.events.find(pred);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no such event within ${timeoutMs} ms; got: ${this.events.map((e) => e.type).join(', ')}`)), timeoutMs);
      this.waiters.push({ pred, resolve: (e) => (clearTimeout(timer), resolve(e)) });
    });
  }

  close(): void {
    this.req.destroy();
  }
}
