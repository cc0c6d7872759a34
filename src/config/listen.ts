/** The `listen` address: `HOST:PORT`, `[::1]:PORT`, or `unix:/path`. */

export type ListenAddress = { kind: 'tcp'; host: string; port: number } | { kind: 'unix'; path: string };

/** Parses a listen address; `error` says what is wrong with it. */
export function parseListen(text: string): { address?: ListenAddress; error?: string } {
  if (text.startsWith('unix:')) {
    const path = text.slice('unix:'.length);
    return path.startsWith('/') ? { address: { kind: 'unix', path } } : { error: 'is invalid; expected unix:/absolute/path' };
  }
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:\s[\]]+)):(\d{1,5})$/.exec(text);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) return { error: 'is invalid; expected HOST:PORT such as "127.0.0.1:8080" (port 0..65535)' };
  return { address: { kind: 'tcp', host: m[1] ?? m[2]!, port } };
}

/** True for addresses only this machine can reach. */
export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}
