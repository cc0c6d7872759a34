/**
 * The connection to the container engine (Docker, or Podman's Docker-compatible service) through dockerode:
 * where it is, calls bounded in time, engine failures turned into one-line WatchbellErrors, and the
 * demultiplexing of an attached stream. Never the `docker` CLI.
 */
import { existsSync } from 'node:fs';
import type { Readable } from 'node:stream';
import type Docker from 'dockerode';
import { WatchbellError } from '../../jobs/errors.js';

/** The socket used when DOCKER_HOST is not set. */
export const DEFAULT_SOCKET = '/var/run/docker.sock';

/**
 * Bound on one engine call that should answer at once (inspect, create, start, remove, exec create): a hung
 * engine must fail the attempt, not hang it. Pulls and waits are bounded by the attempt's timeout instead.
 */
export const ENGINE_CALL_MS = 30_000;

/** The engine's address as people write it: DOCKER_HOST, else the default socket. */
export function engineAddress(env: NodeJS.ProcessEnv = process.env): string {
  return env.DOCKER_HOST || `unix://${DEFAULT_SOCKET}`;
}

/** True when an engine is configured at all: DOCKER_HOST is set, or the default socket exists. */
export function engineConfigured(env: NodeJS.ProcessEnv = process.env): boolean {
  return Boolean(env.DOCKER_HOST) || existsSync(DEFAULT_SOCKET);
}

const clients = new Map<string, Docker>();

let dockerode: Promise<typeof Docker> | undefined;

/**
 * Loads dockerode (once). It is imported here, at the first need, not with the daemon: with ssh2, protobufjs and
 * @grpc/grpc-js it costs ~0.2 s and ~30 MB, which a daemon without container jobs should not pay.
 */
export function loadEngineClient(): Promise<typeof Docker> {
  dockerode ??= import('dockerode').then((m) => m.default);
  return dockerode;
}

/** The client for the engine at engineAddress() (one per address); rejects with ENGINE_UNAVAILABLE for a malformed DOCKER_HOST. */
export async function engineClient(env: NodeJS.ProcessEnv = process.env): Promise<Docker> {
  const address = engineAddress(env);
  let client = clients.get(address);
  if (!client) {
    const Docker = await loadEngineClient();
    // Another caller may have made it while this one waited for the import.
    client = clients.get(address);
    if (client) return client;
    try {
      const host = env.DOCKER_HOST;
      // For tcp:// and ssh:// (and DOCKER_TLS_VERIFY, DOCKER_CERT_PATH) dockerode reads the process environment itself.
      client = !host
        ? new Docker({ socketPath: DEFAULT_SOCKET })
        : host.startsWith('unix://')
          ? new Docker({ socketPath: host.slice('unix://'.length) || DEFAULT_SOCKET })
          : new Docker();
    } catch (err) {
      throw new WatchbellError('ENGINE_UNAVAILABLE', `DOCKER_HOST ${JSON.stringify(env.DOCKER_HOST)} is invalid: ${messageOf(err)}; expected unix:///path/to/docker.sock or tcp://HOST:PORT`, { cause: err });
    }
    clients.set(address, client);
  }
  return client;
}

/** Thrown by engineCall when the caller's signal aborted the call (a timeout or cancel of the attempt). */
export class EngineCallAborted extends Error {
  override readonly name = 'EngineCallAborted';
}

export interface EngineCallOptions {
  /** Default ENGINE_CALL_MS; Infinity for none (the caller's signal bounds it). */
  timeoutMs?: number;
  /** The attempt's signal: aborting it aborts the call with EngineCallAborted. */
  signal?: AbortSignal;
}

/**
 * Runs one engine call with an abort signal that fires on the caller's signal or after `timeoutMs`.
 * Rejects with WatchbellError ENGINE_UNAVAILABLE (unreachable, or no answer in time) or ENGINE_FAILED (the
 * engine's own error, e.g. no such image), whose message starts with `what` ("creating the container").
 */
export async function engineCall<T>(what: string, call: (signal: AbortSignal) => Promise<T>, options: EngineCallOptions = {}): Promise<T> {
  const timeoutMs = options.timeoutMs ?? ENGINE_CALL_MS;
  const controller = new AbortController();
  let timedOut = false;
  const timer = Number.isFinite(timeoutMs)
    ? setTimeout(() => {
        timedOut = true;
        controller.abort();
      }, timeoutMs)
    : undefined;
  const onAbort = () => controller.abort();
  options.signal?.addEventListener('abort', onAbort, { once: true });
  if (options.signal?.aborted) controller.abort();
  try {
    // Raced as well: not every dockerode call hands the signal on to its request.
    return await new Promise<T>((resolve, reject) => {
      controller.signal.addEventListener('abort', () => reject(new Error('aborted')), { once: true });
      call(controller.signal).then(resolve, reject);
    });
  } catch (err) {
    if (timedOut) {
      throw new WatchbellError('ENGINE_UNAVAILABLE', `${what}: the container engine at ${engineAddress()} did not answer within ${Math.round(timeoutMs / 1000)}s`, { cause: err });
    }
    if (options.signal?.aborted) throw new EngineCallAborted(`${what}: aborted`);
    throw engineError(what, err);
  } finally {
    clearTimeout(timer);
    options.signal?.removeEventListener('abort', onAbort);
  }
}

/** Socket errors that mean "no engine there". */
const UNREACHABLE = new Set(['ENOENT', 'ECONNREFUSED', 'EACCES', 'EPERM', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'ENOTSOCK']);

/** An engine failure as a one-line WatchbellError: `what: cause`, with a hint where the cause is the connection. */
export function engineError(what: string, err: unknown): WatchbellError {
  if (err instanceof WatchbellError) return err;
  const code = (err as NodeJS.ErrnoException | null)?.code;
  if (code !== undefined && UNREACHABLE.has(code)) {
    const hint =
      code === 'EACCES' || code === 'EPERM'
        ? "the daemon's user may not use that socket (see docs/containers.md)"
        : 'is Docker or Podman running there, and is DOCKER_HOST right?';
    return new WatchbellError('ENGINE_UNAVAILABLE', `${what}: cannot reach the container engine at ${engineAddress()} (${code}); ${hint}`, { cause: err });
  }
  return new WatchbellError('ENGINE_FAILED', `${what}: ${engineMessage(err)}`, { cause: err });
}

/** The engine's own words for a failed call: dockerode wraps them as `(HTTP code 404) no such container - MESSAGE`. */
export function engineMessage(err: unknown): string {
  const json = (err as { json?: unknown } | null)?.json;
  const fromJson = json && typeof json === 'object' ? (json as { message?: unknown }).message : typeof json === 'string' ? json : undefined;
  const text = typeof fromJson === 'string' && fromJson.trim() ? fromJson : messageOf(err).replace(/^\(HTTP code \d+\) [^-]*- /, '');
  return oneLine(text);
}

/** The HTTP status of an engine's error answer, if it was one. */
export function engineStatus(err: unknown): number | undefined {
  const cause = err instanceof WatchbellError ? err.cause : err;
  const status = (cause as { statusCode?: unknown } | null)?.statusCode;
  return typeof status === 'number' ? status : undefined;
}

/**
 * Splits an attached stream of a container without a TTY into its frames (8-byte header: stream type, 3
 * zero bytes, big-endian length) and hands each payload on, tagged. Frames may be cut anywhere by the socket.
 */
export function demultiplex(stream: Readable | NodeJS.ReadableStream, onChunk: (stream: 'stdout' | 'stderr', chunk: Buffer) => void): void {
  let pending: Buffer = Buffer.alloc(0);
  stream.on('data', (data: Buffer) => {
    pending = pending.length ? Buffer.concat([pending, data]) : data;
    while (pending.length >= 8) {
      const size = pending.readUInt32BE(4);
      if (pending.length < 8 + size) break;
      const kind = pending[0];
      const payload = pending.subarray(8, 8 + size);
      pending = pending.subarray(8 + size);
      // 0 would be stdin, which is never attached.
      if (payload.length > 0 && (kind === 1 || kind === 2)) onChunk(kind === 1 ? 'stdout' : 'stderr', payload);
    }
  });
}

/** Resolves true once the stream has ended or closed, false after `ms`. */
export function streamEnded(stream: Readable | NodeJS.ReadableStream, ms: number): Promise<boolean> {
  return Promise.race([ended(stream).then(() => true), new Promise<boolean>((resolve) => setTimeout(() => resolve(false), ms).unref())]);
}

const endedStreams = new WeakMap<object, Promise<void>>();

/** Resolves once the stream has ended, closed or failed (remembered, so a late caller does not wait forever). */
export function ended(stream: Readable | NodeJS.ReadableStream): Promise<void> {
  let p = endedStreams.get(stream);
  if (!p) {
    p = new Promise<void>((resolve) => {
      stream.once('end', () => resolve());
      stream.once('close', () => resolve());
      stream.once('error', () => resolve());
    });
    endedStreams.set(stream, p);
  }
  return p;
}

/** A reference with its tag: without one the engine's pull API would fetch every tag of the repository. */
export function withTag(image: string): string {
  if (image.includes('@')) return image;
  const last = image.slice(image.lastIndexOf('/') + 1);
  return last.includes(':') ? image : `${image}:latest`;
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function oneLine(text: string): string {
  return text.replace(/\s+/g, ' ').trim();
}
