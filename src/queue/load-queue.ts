import type { Context } from '../context.js';
import { UserError } from '../errors.js';
import type { Job } from './queue-schema.js';
import { QueueStore } from './queue-store.js';
import { isProcessAlive, reconcile } from './reconcile.js';

export type Alive = (pid: number) => boolean;

/** The queue's jobs, oldest first, after marking jobs whose worker is gone as interrupted (written back). */
export async function loadQueue(context: Pick<Context, 'home'>, alive: Alive = isProcessAlive): Promise<Job[]> {
  const store = new QueueStore(context.home);
  const queue = await store.read();
  if (!reconcile(queue.jobs, alive).changed.length) return queue.jobs;
  return store.update((current) => {
    current.jobs = reconcile(current.jobs, alive).jobs;
    return current.jobs;
  });
}

export async function findJob(context: Pick<Context, 'home'>, id: string, alive: Alive = isProcessAlive): Promise<{ job: Job; jobs: Job[] }> {
  const jobs = await loadQueue(context, alive);
  const job = jobs.find((candidate) => candidate.id === id);
  if (!job) throw unknownJob(id, jobs);
  return { job, jobs };
}

/** An unknown job id, with the ids that exist (the newest 20) so the user can pick one. */
export function unknownJob(id: string, jobs: readonly Job[]): UserError {
  const known = jobs.map((job) => job.id).slice(-20);
  return new UserError(`unknown job "${id}"`, known.length ? `Jobs in the queue: ${known.join(', ')}. See: make queue` : 'The queue is empty. See: make queue', 2);
}
