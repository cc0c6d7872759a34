/** The config in force: a reload replaces `current`, and the parts that read it late always see the newest. */
import type { Config } from '../config/load-config.js';

export interface LiveConfig {
  current: Config;
}
