import type { Context } from '../context.js';
import { loadQueue, type Alive } from './load-queue.js';
import { QueueStore } from './queue-store.js';
import { isProcessAlive } from './reconcile.js';
import { failBlocked, nextRunnable } from './scheduler.js';
import { startDetachedWorker, type StartWorker } from './start-worker.js';
import { runningWorker } from './worker-lock.js';

/**
 * Jobs that can run but have no worker (theirs was killed, or the one that queued them went away) get
 * one: a detached worker is started. Returns its pid, or nothing when there was nothing to do. Two
 * callers at once may both start one; only one claims the queue, the other ends at once.
 */
export async function resumeQueue(context: Context, alive: Alive = isProcessAlive, startWorker: StartWorker = (ctx) => startDetachedWorker(ctx)): Promise<number | undefined> {
  const jobs = failBlocked(await loadQueue(context, alive)).jobs;
  if (!nextRunnable(jobs) || (await runningWorker(new QueueStore(context.home), alive)) !== undefined) return undefined;
  return startWorker(context);
}
