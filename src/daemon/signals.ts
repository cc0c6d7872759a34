/** SIGTERM/SIGINT stop the daemon (force-exiting when the stop hangs past its grace); SIGHUP reloads the config. */
import type { Logger } from 'pino';
import type { ReloadTrigger } from '../jobs/events.js';

/** What the handlers need of the daemon (not daemon.ts itself: nothing imports the composition root). */
interface Stoppable {
  readonly log: Logger;
  reload(trigger: ReloadTrigger): Promise<unknown>;
  stop(reason: string): Promise<void>;
}

/** Installs the handlers (the CLI does; in-process tests do not). */
export function installSignals(daemon: Stoppable, graceSeconds: number): void {
  const onStop = (signal: NodeJS.Signals) => {
    // A stop that hangs past its grace must not leave the service half-alive: exit with a reason.
    const force = setTimeout(() => {
      daemon.log.error({ event: 'daemon.stop_timeout' }, `shutdown did not finish within ${graceSeconds + 15}s after ${signal}; exiting`);
      process.exit(1);
    }, (graceSeconds + 15) * 1000);
    force.unref();
    daemon.stop(signal).then(
      () => process.exit(0),
      (err) => {
        daemon.log.error({ event: 'daemon.stop_failed', err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', onStop);
  process.once('SIGINT', onStop);
  // The outcome is logged by the reload itself (config.reloaded or config.reload_failed).
  process.on('SIGHUP', () => {
    daemon.reload('signal').catch(() => undefined);
  });
}
