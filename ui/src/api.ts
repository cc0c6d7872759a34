// The daemon's API as the dashboard uses it: same origin, the token (if any) sent as a Bearer header.
// The token lives in sessionStorage: it goes with the tab, and no cookie is ever sent for it.

// The daemon's own types where they stand alone (type-only: nothing of the daemon is bundled).
import type { Attempt, Execution as CoreExecution, ExecutionStatus } from '../../src/jobs/execution.js';

const TOKEN_KEY = 'watchbell.token';

/** An error answer of the API, with its stable code. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

type Listener = () => void;
const unauthorizedListeners = new Set<Listener>();

/** Called whenever the API answers 401: the sign-in form comes back. */
export function onUnauthorized(listener: Listener): () => void {
  unauthorizedListeners.add(listener);
  return () => unauthorizedListeners.delete(listener);
}

export function getToken(): string | null {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function setToken(token: string | null): void {
  if (token) sessionStorage.setItem(TOKEN_KEY, token);
  else sessionStorage.removeItem(TOKEN_KEY);
}

/** Headers every request carries. */
export function authHeaders(extra: Record<string, string> = {}): Record<string, string> {
  const token = getToken();
  return token ? { ...extra, Authorization: `Bearer ${token}` } : extra;
}

/** One request; resolves with the raw Response of a 2xx, throws ApiError otherwise. */
export async function request(path: string, init: RequestInit = {}): Promise<Response> {
  const res = await fetch(path, { ...init, headers: authHeaders((init.headers as Record<string, string>) ?? {}), cache: 'no-store' });
  if (res.ok) return res;
  let code = 'HTTP_' + res.status;
  let message = res.statusText;
  try {
    const body = (await res.json()) as { error?: { code: string; message: string } };
    if (body.error) ({ code, message } = body.error);
  } catch {
    // Not the API's error shape: the status says enough.
  }
  if (res.status === 401) for (const l of unauthorizedListeners) l();
  throw new ApiError(res.status, code, message);
}

/** GET a JSON answer. */
export async function getJson<T>(path: string): Promise<T> {
  return (await (await request(path)).json()) as T;
}

/** POST, with a JSON body when one is given; resolves with the answer's `data`. */
export async function post<T = unknown>(path: string, body?: unknown): Promise<T> {
  const init: RequestInit = body === undefined ? { method: 'POST' } : { method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'application/json' } };
  return ((await (await request(path, init)).json()) as { data: T }).data;
}

export const enc = encodeURIComponent;

// Shapes of the API's answers (docs/api.md); only the fields the dashboard shows.

export type { Attempt, ExecutionStatus };

/** A step of an execution (issue 15), where the job has steps; only the fields the dashboard shows. */
export interface Step {
  name: string;
  status?: string;
  started_at?: string | null;
  finished_at?: string | null;
  duration?: number | null;
  exit_code?: number | null;
  error?: string | null;
}

/** An execution as answered; live events leave `output` out. */
export type Execution = Omit<CoreExecution, 'output' | 'steps'> & { output?: string; steps?: Step[] };

export interface Job {
  id: string;
  name: string;
  schedule: string;
  timezone: string;
  command: string | string[] | null;
  tags: string[];
  status: 'active' | 'paused' | 'completed';
  source: 'config' | 'api' | 'label' | string;
  next_run: string | null;
  last_run: Execution | null;
  created_at: string;
  updated_at: string;
  [key: string]: unknown;
}

export interface Page<T> {
  data: T[];
  pagination: { total: number; limit: number; offset: number };
}

export interface Session {
  token: string | null;
  scope: 'admin' | 'read';
}
