import type { Context } from '../context.js';
import type { BuildOne } from './build-one.js';
import type { Alive } from './load-queue.js';
import { isFinished, type Job } from './queue-schema.js';
import { QueueStore } from './queue-store.js';
import { isProcessAlive, reconcile } from './reconcile.js';
import { CANCELLED_BY_USER } from './cancel-job.js';
import { runJob } from './run-job.js';
import { failBlocked, nextRunnable } from './scheduler.js';
import { claimWorker, releaseWorker } from './worker-lock.js';

export interface WorkerOptions {
  /** Stop once this job has finished (a foreground make build does not wait for other people's jobs). */
  stopAfter?: string;
  alive?: Alive;
  /** At most one progress write per interval (default 1 s). */
  progressIntervalMs?: number;
  /** Handle SIGTERM and SIGINT (default true): cancel the running build, let it clean up, then stop. */
  handleSignals?: boolean;
}

export interface WorkerRun {
  /** False when another worker is running: this one did nothing. */
  claimed: boolean;
  /** The jobs this worker ran, in order, as they ended. */
  ran: Job[];
}

/**
 * The one worker: takes queued jobs in order whose dependencies are done, fails those whose
 * dependency failed, and exits when nothing is runnable.
 */
export async function runWorker(context: Context, buildOne: BuildOne, options: WorkerOptions = {}): Promise<WorkerRun> {
  const alive = options.alive ?? isProcessAlive;
  const store = new QueueStore(context.home);
  if (!(await store.locked(() => claimWorker(store, alive)))) return { claimed: false, ran: [] };
  const ran: Job[] = [];
  let released = false;
  let stopSignal: NodeJS.Signals | undefined;
  let current: AbortController | undefined;
  let latestId: string | undefined;
  const stop = (signal: NodeJS.Signals) => {
    stopSignal = signal;
    current?.abort(`stopped by ${signal}`);
  };
  // make queue-cancel sends SIGTERM after marking the job cancelled; that signal stops the build but
  // not the worker. The build may already have ended (the job was seen cancelled in queue.json).
  const onSignal = (signal: NodeJS.Signals) => {
    if (signal !== 'SIGTERM') return stop(signal);
    void store.read().then(
      (queue) => {
        const latest = queue.jobs.find((job) => job.id === latestId);
        if (latest?.state === 'cancelled' && latest.error === CANCELLED_BY_USER) current?.abort(CANCELLED_BY_USER);
        else stop(signal);
      },
      () => stop(signal),
    );
  };
  if (options.handleSignals !== false) {
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  }
  try {
    for (;;) {
      const job = await store.update(async (queue) => {
        queue.jobs = failBlocked(reconcile(queue.jobs, alive).jobs).jobs;
        const target = options.stopAfter === undefined ? undefined : queue.jobs.find((candidate) => candidate.id === options.stopAfter);
        const next = stopSignal || (target && isFinished(target)) ? undefined : nextRunnable(queue.jobs);
        if (!next) {
          await releaseWorker(store);
          released = true;
          return undefined;
        }
        Object.assign(next, { state: 'running', startedAt: new Date().toISOString(), workerPid: process.pid, step: 'starting', percent: 0 });
        return { ...next };
      });
      if (!job) break;
      latestId = job.id;
      current = new AbortController();
      const ended = await runJob(context, store, job, buildOne, { controller: current, progressIntervalMs: options.progressIntervalMs ?? 1000 });
      current = undefined;
      ran.push(ended);
    }
  } finally {
    if (options.handleSignals !== false) {
      process.off('SIGTERM', onSignal);
      process.off('SIGINT', onSignal);
    }
    if (!released) await store.locked(() => releaseWorker(store)).catch(() => undefined);
  }
  return { claimed: true, ran };
}
