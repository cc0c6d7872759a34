/** Jobs declared by container labels come and go with their containers (docs/containers.md). */
import { LabelSource } from '../config/label-source.js';
import type { DaemonSettings } from '../config/settings.js';
import { dockerLabelEngine } from '../run/container/label-engine.js';
import type { Scheduling } from './scheduling.js';

/** Starts watching the engine's containers for job labels (with `daemon.docker_labels` on). */
export function startLabelJobs(settings: DaemonSettings, core: Scheduling): LabelSource {
  const labels = new LabelSource({ engine: dockerLabelEngine(), timezone: settings.timezone, events: core.events, apply: (jobs) => core.service.applyLabelJobs(jobs) });
  labels.start();
  return labels;
}
