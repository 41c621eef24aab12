import type { Context } from '../context.js';
import { UserError } from '../errors.js';
import { unknownJob, type Alive } from './load-queue.js';
import type { Job } from './queue-schema.js';
import { QueueStore } from './queue-store.js';
import { isProcessAlive, reconcile } from './reconcile.js';
import { dependentsOf } from './scheduler.js';

export const CANCELLED_BY_USER = 'cancelled by the user';

export interface Cancelled {
  job: Job;
  /** Queued jobs that depended on it, cancelled with it. */
  dependents: string[];
  /** The worker told to stop the running build (SIGTERM), if the job was running. */
  signalledPid?: number;
}

/**
 * Cancel a job: a queued one (and the queued jobs that depend on it) at once; a running one is marked
 * cancelled and its worker gets SIGTERM, so the build can clean up before the worker moves on.
 */
export async function cancelJob(
  context: Pick<Context, 'home'>,
  id: string,
  options: { alive?: Alive; kill?: (pid: number, signal: NodeJS.Signals) => void } = {},
): Promise<Cancelled> {
  const alive = options.alive ?? isProcessAlive;
  const kill = options.kill ?? ((pid, signal) => process.kill(pid, signal));
  const outcome = await new QueueStore(context.home).update((queue) => {
    queue.jobs = reconcile(queue.jobs, alive).jobs;
    const job = queue.jobs.find((candidate) => candidate.id === id);
    if (!job) throw unknownJob(id, queue.jobs);
    if (job.state !== 'queued' && job.state !== 'running') {
      throw new UserError(`job ${id} (${job.image}) is already ${job.state}; there is nothing to cancel`, 'See: make queue');
    }
    const now = new Date().toISOString();
    const wasRunning = job.state === 'running';
    Object.assign(job, { state: 'cancelled', finishedAt: now, error: CANCELLED_BY_USER });
    const dependents = dependentsOf(queue.jobs, id);
    for (const other of queue.jobs) {
      if (dependents.includes(other.id)) Object.assign(other, { state: 'cancelled', finishedAt: now, error: `dependency ${id} was cancelled` });
    }
    return { job: { ...job }, dependents, pid: wasRunning ? job.workerPid : undefined };
  });
  // Only the worker recorded on the job, a process vmlab started; an in-process worker notices on its own.
  let signalledPid: number | undefined;
  if (outcome.pid !== undefined && outcome.pid !== process.pid && alive(outcome.pid)) {
    try {
      kill(outcome.pid, 'SIGTERM');
      signalledPid = outcome.pid;
    } catch {
      // It exited between the check and the signal: nothing left to stop.
    }
  }
  return { job: outcome.job, dependents: outcome.dependents, signalledPid };
}
