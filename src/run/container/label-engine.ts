/** The engine side of jobs from labels: listing `watchbell.enabled=true` containers and following their events. */
import type Docker from 'dockerode';
import { CONTAINER_LABELS } from '../../jobs/container-spec.js';
import { engineAddress, engineCall, engineClient } from './docker-engine.js';

/**
 * Events after which a container's jobs may have changed. Docker says `destroy` where Podman says `remove`;
 * they are filtered here, since Podman 4's own `event` filter misses some of them.
 */
const WATCHED = new Set(['start', 'die', 'destroy', 'remove', 'rename', 'update']);

const ENABLED_FILTER = `${CONTAINER_LABELS.enabled}=true`;

/** The dockerode implementation of config/label-source.ts's LabelEngine. */
export function dockerLabelEngine(env: NodeJS.ProcessEnv = process.env) {
  return {
    address: engineAddress(env),

    /** The running containers labelled `watchbell.enabled=true`, with their names (no leading `/`) and labels. */
    async list(): Promise<Array<{ id: string; name: string; labels: Record<string, string> }>> {
      const docker = await engineClient(env);
      const found = await engineCall('listing containers labelled watchbell.enabled=true', () =>
        docker.listContainers({ filters: { label: [ENABLED_FILTER], status: ['running'] } }),
      );
      return found.map((c) => ({ id: c.Id, name: (c.Names?.[0] ?? c.Id).replace(/^\//, ''), labels: c.Labels ?? {} }));
    },

    /** Subscribes to the events of those containers; `ended` settles when the stream ends (rejects when it fails). */
    async follow(onChange: () => void, signal: AbortSignal): Promise<{ ended: Promise<void> }> {
      const docker = await engineClient(env);
      const stream = await engineCall(
        'following container events',
        (abortSignal) => docker.getEvents({ filters: { type: ['container'], label: [ENABLED_FILTER] }, abortSignal } as Docker.GetEventsOptions),
        { signal },
      );
      let partial = '';
      stream.on('data', (chunk: Buffer) => {
        const lines = (partial + chunk.toString('utf8')).split('\n');
        partial = lines.pop() ?? '';
        for (const line of lines) {
          if (!line.trim()) continue;
          let action: unknown;
          try {
            const event = JSON.parse(line) as { Action?: unknown; status?: unknown };
            action = event.Action ?? event.status;
          } catch {
            action = undefined; // not an event we understand: look anyway
          }
          if (typeof action !== 'string' || WATCHED.has(action.split(':')[0]!)) onChange();
        }
      });
      const close = () => (stream as { destroy?: () => void }).destroy?.();
      signal.addEventListener('abort', close, { once: true });
      const ended = new Promise<void>((resolve, reject) => {
        stream.once('end', () => resolve());
        stream.once('close', () => resolve());
        stream.once('error', reject);
      }).finally(() => signal.removeEventListener('abort', close));
      return { ended };
    },
  };
}
