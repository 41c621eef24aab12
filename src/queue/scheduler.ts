import type { Job } from './queue-schema.js';

/**
 * Which job runs next, and which queued jobs can never run. Pure functions over the queue in order.
 */

/** Queued jobs whose dependency failed, was cancelled or vanished become failed, transitively. */
export function failBlocked(jobs: readonly Job[], now: Date = new Date()): { jobs: Job[]; failed: string[] } {
  const result = [...jobs];
  const failed: string[] = [];
  for (let changed = true; changed; ) {
    changed = false;
    for (const [index, job] of result.entries()) {
      if (job.state !== 'queued') continue;
      const dependency = job.dependsOn.find((id) => {
        const other = result.find((candidate) => candidate.id === id);
        return !other || other.state === 'failed' || other.state === 'cancelled';
      });
      if (dependency === undefined) continue;
      result[index] = { ...job, state: 'failed', finishedAt: now.toISOString(), error: `dependency ${dependency} failed` };
      failed.push(job.id);
      changed = true;
    }
  }
  return { jobs: result, failed };
}

/** The oldest queued job whose dependencies are all done. */
export function nextRunnable(jobs: readonly Job[]): Job | undefined {
  const done = new Set(jobs.filter((job) => job.state === 'done').map((job) => job.id));
  return jobs.find((job) => job.state === 'queued' && job.dependsOn.every((id) => done.has(id)));
}

/** The ids of the queued jobs that depend on `id`, directly or through others. */
export function dependentsOf(jobs: readonly Job[], id: string): string[] {
  const found: string[] = [];
  for (let frontier = [id]; frontier.length; ) {
    const next = jobs.filter((job) => job.state === 'queued' && !found.includes(job.id) && job.dependsOn.some((dependency) => frontier.includes(dependency)));
    found.push(...next.map((job) => job.id));
    frontier = next.map((job) => job.id);
  }
  return found;
}
