import { randomInt } from 'node:crypto';
import type { Context } from '../context.js';
import type { Job } from './queue-schema.js';
import { QueueStore } from './queue-store.js';
import { isProcessAlive, reconcile } from './reconcile.js';
import type { Alive } from './load-queue.js';

export function newJobId(now: number, taken: ReadonlySet<string>): string {
  for (;;) {
    const id = `j-${now.toString(36)}${randomInt(36 * 36).toString(36).padStart(2, '0')}`;
    if (!taken.has(id)) return id;
  }
}

/**
 * Queue the builds of a dependency chain (parent first): one job per image that has no queued or
 * running job yet, each depending on the previous image's job. FORCE applies to the last image only.
 * Returns the job of the last image.
 */
export async function enqueue(context: Pick<Context, 'home'>, images: readonly string[], options: { force?: boolean }, alive: Alive = isProcessAlive): Promise<Job> {
  if (!images.length) throw new Error('enqueue needs at least one image');
  const store = new QueueStore(context.home);
  return store.update((queue) => {
    // Reconcile first: a job whose worker died must not be reused, it is retried with a new job.
    queue.jobs = reconcile(queue.jobs, alive).jobs;
    const now = new Date();
    let previous: Job | undefined;
    for (const [index, image] of images.entries()) {
      const force = index === images.length - 1 && options.force === true;
      const dependsOn = previous ? [previous.id] : [];
      let job = queue.jobs.find((candidate) => candidate.image === image && (candidate.state === 'queued' || candidate.state === 'running'));
      if (job?.state === 'queued') {
        // Its parent's job may have failed since; depend on the parent job of this chain instead.
        job.dependsOn = dependsOn;
        job.force ||= force;
      }
      if (!job) {
        const id = newJobId(now.getTime(), new Set(queue.jobs.map((candidate) => candidate.id)));
        job = { id, image, force, state: 'queued', createdAt: now.toISOString(), logFile: store.jobLogFile(id), dependsOn };
        queue.jobs.push(job);
      }
      previous = job;
    }
    return { ...(previous as Job) };
  });
}
