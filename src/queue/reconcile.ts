import type { Job } from './queue-schema.js';

export { isProcessAlive } from '../process-alive.js';

/**
 * A running job whose worker process is gone (killed, crashed, the laptop rebooted) will never finish:
 * it is failed as interrupted, so a later build of its image enqueues a fresh job (a retry).
 * Pure: returns new jobs and the ids it changed.
 */
export function reconcile(jobs: readonly Job[], alive: (pid: number) => boolean, now: Date = new Date()): { jobs: Job[]; changed: string[] } {
  const changed: string[] = [];
  const result = jobs.map((job) => {
    if (job.state !== 'running' || (job.workerPid !== undefined && alive(job.workerPid))) return job;
    changed.push(job.id);
    return { ...job, state: 'failed' as const, finishedAt: now.toISOString(), error: `interrupted (worker ${job.workerPid ?? 'unknown'} is gone)` };
  });
  return { jobs: result, changed };
}
