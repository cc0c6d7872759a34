// The dashboard's entry: sign-in when the daemon asks for a token, then the pages.
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { LocationProvider, Route, Router } from 'preact-iso';
import { ApiError, getJson, getToken, onUnauthorized, setToken, type Session } from './api';
import { onConnection, startLive, stopLive } from './live';
import { ExecutionPage } from './pages/execution';
import { HealthPage } from './pages/health';
import { JobPage } from './pages/job';
import { JobsPage } from './pages/jobs';
import { NowPage } from './pages/now';
import { SessionContext } from './session';
import './style.css';

type AuthState = { kind: 'checking' } | { kind: 'signed-in'; session: Session } | { kind: 'sign-in'; message?: string };

function App() {
  const [auth, setAuth] = useState<AuthState>({ kind: 'checking' });

  const check = async () => {
    try {
      const { data } = await getJson<{ data: Session | { token: null; scope: null } }>('/api/v1/session');
      if (data.scope === null) {
        setAuth({ kind: 'sign-in' });
        return;
      }
      setAuth({ kind: 'signed-in', session: data });
      startLive();
    } catch (err) {
      stopLive();
      const message = err instanceof ApiError && err.status === 401 && getToken() ? 'That token was not accepted.' : undefined;
      if (err instanceof ApiError && err.status === 401) setAuth({ kind: 'sign-in', message });
      else setAuth({ kind: 'sign-in', message: `The daemon did not answer: ${(err as Error).message}` });
    }
  };

  useEffect(() => {
    void check();
    return onUnauthorized(() => {
      stopLive();
      setAuth({ kind: 'sign-in', message: getToken() ? 'Your token is no longer accepted; sign in again.' : undefined });
    });
  }, []);

  if (auth.kind === 'checking') return <p class="loading">Loading…</p>;
  if (auth.kind === 'sign-in') return <SignIn message={auth.message} onSignedIn={() => void check()} />;
  return (
    <SessionContext.Provider value={auth.session}>
      <LocationProvider>
        <Shell session={auth.session} onSignOut={() => (setToken(null), stopLive(), setAuth({ kind: 'sign-in' }))}>
          <Router>
            <Route path="/" component={JobsPage} />
            <Route path="/ui" component={JobsPage} />
            <Route path="/ui/jobs" component={JobsPage} />
            <Route path="/ui/jobs/:id" component={JobPage} />
            <Route path="/ui/jobs/:id/executions/:eid" component={ExecutionPage} />
            <Route path="/ui/now" component={NowPage} />
            <Route path="/ui/health" component={HealthPage} />
            <Route default component={NotFound} />
          </Router>
        </Shell>
      </LocationProvider>
    </SessionContext.Provider>
  );
}

function Shell({ session, onSignOut, children }: { session: Session; onSignOut: () => void; children: preact.ComponentChildren }) {
  const [connected, setConnected] = useState(true);
  useEffect(() => onConnection(setConnected), []);
  return (
    <>
      <a class="skip" href="#main">
        Skip to content
      </a>
      <header class="top">
        <a class="brand" href="/ui/jobs">
          watchbell
        </a>
        <nav aria-label="Pages">
          <a href="/ui/jobs">Jobs</a>
          <a href="/ui/now">Now</a>
          <a href="/ui/health">Health</a>
        </nav>
        <span class="who">
          {!connected && (
            <span class="offline" role="status">
              live updates paused, reconnecting…
            </span>
          )}
          {session.token && (
            <>
              <span title={`scope: ${session.scope}`}>
                {session.token} ({session.scope})
              </span>
              <button type="button" class="link" onClick={onSignOut}>
                Sign out
              </button>
            </>
          )}
        </span>
      </header>
      <main id="main">{children}</main>
    </>
  );
}

function SignIn({ message, onSignedIn }: { message?: string; onSignedIn: () => void }) {
  const [token, setValue] = useState('');
  return (
    <main id="main" class="signin">
      <h1>watchbell</h1>
      <form
        onSubmit={(e) => {
          e.preventDefault();
          setToken(token.trim());
          onSignedIn();
        }}
      >
        <p>This daemon asks for an API token (api.tokens in its config).</p>
        {message && (
          <p class="error" role="alert">
            {message}
          </p>
        )}
        <label for="token">API token</label>
        <input id="token" name="token" type="password" autoComplete="current-password" required value={token} onInput={(e) => setValue(e.currentTarget.value)} />
        <button type="submit">Sign in</button>
        <p class="muted small">The token is kept in this tab only (sessionStorage) and sent as a Bearer header.</p>
      </form>
    </main>
  );
}

function NotFound() {
  return (
    <>
      <h1>Not found</h1>
      <p>
        No page here. <a href="/ui/jobs">See the jobs</a>.
      </p>
    </>
  );
}

render(<App />, document.getElementById('app')!);
