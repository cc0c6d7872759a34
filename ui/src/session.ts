// Who is signed in, for the pages: a read token sees no write buttons.
import { createContext } from 'preact';
import { useContext } from 'preact/hooks';
import type { Session } from './api';

export const SessionContext = createContext<Session>({ token: null, scope: 'read' });

/** True when the session may run, pause, resume and cancel. */
export function useCanWrite(): boolean {
  return useContext(SessionContext).scope === 'admin';
}
