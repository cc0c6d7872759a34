// One connection to GET /api/v1/events for the whole page. fetch() rather than EventSource, which cannot send
// the Authorization header; eventsource-parser reads the stream. After a drop it reconnects with Last-Event-ID,
// so nothing recent is missed; a `reset` (too much missed) tells every page to reload what it shows.
import { createParser } from 'eventsource-parser';
import { authHeaders } from './api';

export interface LiveEvent {
  type: string;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  data: any;
}

type Listener = (event: LiveEvent) => void;
const listeners = new Set<Listener>();
const stateListeners = new Set<(connected: boolean) => void>();
let lastId = '';
let running: AbortController | null = null;
let retryMs = 2000;

/** Calls `listener` for each live event (and `{type: 'reset'}`); returns the unsubscribe. */
export function subscribe(listener: Listener): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

/** Calls `listener` when the stream connects or drops. */
export function onConnection(listener: (connected: boolean) => void): () => void {
  stateListeners.add(listener);
  return () => stateListeners.delete(listener);
}

/** Opens the stream (again, e.g. after signing in). */
export function startLive(): void {
  running?.abort();
  const controller = new AbortController();
  running = controller;
  void loop(controller.signal);
}

/** Closes the stream (signed out). */
export function stopLive(): void {
  running?.abort();
  running = null;
}

async function loop(signal: AbortSignal): Promise<void> {
  while (!signal.aborted) {
    try {
      await connect(signal);
    } catch {
      // Dropped or refused: tried again below.
    }
    for (const l of stateListeners) l(false);
    if (signal.aborted) return;
    await new Promise((r) => setTimeout(r, retryMs));
  }
}

async function connect(signal: AbortSignal): Promise<void> {
  const headers = authHeaders(lastId ? { 'Last-Event-ID': lastId, Accept: 'text/event-stream' } : { Accept: 'text/event-stream' });
  const res = await fetch('/api/v1/events', { headers, signal, cache: 'no-store' });
  if (!res.ok || !res.body) throw new Error(`events: HTTP ${res.status}`);
  for (const l of stateListeners) l(true);
  const parser = createParser({
    onEvent(message) {
      if (message.id) lastId = message.id;
      let data: unknown = null;
      try {
        data = JSON.parse(message.data);
      } catch {
        // A comment or an empty event: nothing to pass on.
      }
      const event = { type: message.event ?? 'message', data };
      for (const l of listeners) l(event);
    },
    onRetry(ms) {
      retryMs = ms;
    },
  });
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    parser.feed(value);
  }
}
