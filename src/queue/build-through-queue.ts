import type { Context } from '../context.js';
import { UserError } from '../errors.js';
import type { BuildOne } from './build-one.js';
import { enqueue } from './enqueue.js';
import { followJob } from './follow-job.js';
import { loadQueue, type Alive } from './load-queue.js';
import { isFinished, type Job } from './queue-schema.js';
import { QueueStore } from './queue-store.js';
import { isProcessAlive } from './reconcile.js';
import { resumeQueue } from './resume.js';
import { failBlocked } from './scheduler.js';
import { startDetachedWorker, type StartWorker } from './start-worker.js';
import { runWorker } from './worker.js';
import { runningWorker } from './worker-lock.js';

export interface BuildThroughQueueOptions {
  force: boolean;
  /** BG=1: enqueue, make sure a detached worker runs, return at once. */
  background: boolean;
  buildOne: BuildOne;
  alive?: Alive;
  pollMs?: number;
  startWorker?: StartWorker;
}

/**
 * make build: queue the chain's jobs (parent first), then either return (BG=1) or wait for the last
 * image's job, running the worker in this process when no other worker runs. Resolves with the
 * finished job; a failed or cancelled job is a UserError naming its log.
 */
export async function buildThroughQueue(context: Context, chain: readonly string[], options: BuildThroughQueueOptions): Promise<Job | undefined> {
  const alive = options.alive ?? isProcessAlive;
  const startWorker = options.startWorker ?? ((ctx: Context) => startDetachedWorker(ctx));
  if (context.dryRun) {
    // A dry run changes nothing, the queue included: each build prints what it would run.
    const signal = new AbortController().signal;
    for (const [index, image] of chain.entries()) {
      await options.buildOne(context, image, { force: options.force && index === chain.length - 1, onStep: () => undefined, log: (line) => context.ui.info(line), signal });
    }
    return undefined;
  }
  const store = new QueueStore(context.home);
  const job = await enqueue(context, chain, { force: options.force }, alive);
  if (options.background) {
    const pid = (await runningWorker(store, alive)) ?? startWorker(context);
    context.ui.result(job, () => job.id);
    context.ui.info(`queued job ${job.id} (image ${job.image}); worker ${pid ?? '?'} builds it in the background`);
    context.ui.info(`  follow it: make queue · make queue-log JOB=${job.id} · cancel: make queue-cancel JOB=${job.id}`);
    return job;
  }
  context.ui.info(`job ${job.id}: image ${job.image} (log: ${job.logFile})`);
  const ended = await waitForJob(context, job.id, options.buildOne, alive, options.pollMs ?? 500);
  // Jobs other people queued behind ours go on in a detached worker.
  await resumeQueue(context, alive, startWorker);
  if (ended.state === 'done') return ended;
  throw failure(ended, failBlocked(await loadQueue(context, alive)).jobs);
}

async function waitForJob(context: Context, id: string, buildOne: BuildOne, alive: Alive, pollMs: number): Promise<Job> {
  const store = new QueueStore(context.home);
  for (;;) {
    const other = await runningWorker(store, alive);
    let workerEnded = false;
    const worker = other === undefined ? runWorker(context, buildOne, { stopAfter: id, alive }).finally(() => (workerEnded = true)) : undefined;
    worker?.catch(() => undefined);
    let interrupted = false;
    const onInterrupt = () => (interrupted = true);
    if (!worker) {
      context.ui.info(`job ${id}: worker ${other} is busy; waiting for it (Ctrl-C stops waiting, not the job)`);
      process.on('SIGINT', onInterrupt);
    }
    let seen: Job;
    try {
      seen = await followJob(context, id, {
        pollMs,
        alive,
        until: async () => (worker ? workerEnded : interrupted || (await runningWorker(store, alive)) === undefined),
      });
    } finally {
      process.off('SIGINT', onInterrupt);
      await worker;
    }
    if (isFinished(seen)) return seen;
    if (interrupted) throw new UserError(`stopped waiting for job ${id}; it goes on in worker ${other}`, `Follow it: make queue · cancel it: make queue-cancel JOB=${id}`, 130);
  }
}

function failure(job: Job, jobs: readonly Job[]): UserError {
  // A job failed for its parent's sake points at the parent's log, where the reason is.
  const dependency = /^dependency (\S+)/.exec(job.error ?? '')?.[1];
  const cause = jobs.find((candidate) => candidate.id === dependency);
  const log = cause?.logFile ?? job.logFile;
  const why = cause ? `${job.error} (image ${cause.image}: ${cause.error ?? cause.state})` : (job.error ?? job.state);
  return new UserError(`job ${job.id}: image ${job.image} ${job.state === 'cancelled' ? 'was cancelled' : 'failed'}: ${why}`, `Log: ${log}. Retry: make build IMAGE=${job.image}`);
}
