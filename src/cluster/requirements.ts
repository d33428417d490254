// What `rivulet serve --workers N` needs before it forks: said in one line, or nothing when it may start.

import type { Config } from '../config.ts';

/** Why these settings cannot run several workers, or undefined when they can. */
export function clusterRefusal(
  config: Pick<Config, 'workers' | 'run' | 'dataDir' | 'databaseUrl'>,
): string | undefined {
  if (config.workers <= 1) return undefined;
  if (config.run.redisUrl === undefined) {
    return `--workers ${config.workers} needs REDIS_URL: each worker holds the answers it generates, so without the shared run hub a resume or a stop that lands on another worker would not find its run. Set REDIS_URL, or run one worker.`;
  }
  if (config.databaseUrl === undefined && config.dataDir === ':memory:') {
    return `--workers ${config.workers} needs a database the workers share: DATA_DIR=:memory: would give each worker its own. Use a directory, or DATABASE_URL.`;
  }
  return undefined;
}
