/** Notifications of runs' outcomes, over the core's events. */
import type { DaemonSettings } from '../config/settings.js';
import { Dispatcher } from '../notify/dispatcher.js';
import { previousOutcomeIn } from '../notify/recovery.js';
import type { JobService } from '../service/job-service.js';
import type { Store } from '../store/store.js';
import type { Events } from '../jobs/events.js';
import type { LiveConfig } from './live-config.js';

/** Subscribes the dispatcher; started before the service, so catch-up runs notify too. */
export function startNotifications(o: { events: Events; service: JobService; store: Store; settings: DaemonSettings; live: LiveConfig; userAgent: string }): Dispatcher {
  const { service, live } = o;
  return new Dispatcher({
    events: o.events,
    notifiers: live.current.notifiers,
    job: (id) => service.find(id),
    rules: (id) => service.notifyRules(id),
    previous: previousOutcomeIn(o.store),
    publicUrl: o.settings.public_url,
    userAgent: o.userAgent,
    secrets: () => live.current.api.tokens.map((t) => t.token),
  });
}
