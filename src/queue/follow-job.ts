import { setTimeout as sleep } from 'node:timers/promises';
import type { Context } from '../context.js';
import { estimateSeconds, formatSeconds } from './eta.js';
import { loadQueue, unknownJob, type Alive } from './load-queue.js';
import { isFinished, type Job } from './queue-schema.js';

export interface FollowOptions {
  pollMs: number;
  alive: Alive;
  /** Checked at every poll: stop following (and return the job as it is) when it says so. */
  until: () => boolean | Promise<boolean>;
}

/** Show a job's step, percent and ETA from queue.json until it finishes (or `until` says stop). */
export async function followJob(context: Context, id: string, options: FollowOptions): Promise<Job> {
  let progress: ReturnType<Context['ui']['progress']> | undefined;
  for (;;) {
    const jobs = await loadQueue(context, options.alive);
    const job = jobs.find((candidate) => candidate.id === id);
    if (!job) throw unknownJob(id, jobs);
    const text = describeProgress(job, jobs);
    if (!progress) progress = context.ui.progress(text);
    if (isFinished(job)) {
      if (job.state === 'done') progress.succeed(text);
      else progress.fail(text);
      return job;
    }
    progress.update(text);
    if (await options.until()) return job;
    await sleep(options.pollMs);
  }
}

/** One line about a job: "job j-x: docker 3/7 installing packages 43% (ETA 2m10s)". */
export function describeProgress(job: Job, jobs: readonly Job[]): string {
  const head = `job ${job.id}: ${job.image}`;
  const eta = estimateSeconds(job, jobs);
  const etaText = eta === null ? '' : ` (ETA ${formatSeconds(eta)})`;
  switch (job.state) {
    case 'queued': {
      const ahead = jobs.slice(0, jobs.indexOf(job)).filter((other) => other.state === 'queued' || other.state === 'running').length;
      return `${head} queued${ahead ? ` behind ${ahead} job(s)` : ''}${etaText}`;
    }
    case 'running':
      return `${head} ${job.step ?? 'starting'} ${job.percent ?? 0}%${etaText}`;
    case 'done':
      return `${head} ${job.result === 'up to date' ? 'up to date' : job.result === 'cached' ? 'registered from the box cache' : 'built'}${duration(job)}`;
    default:
      return `${head} ${job.state}${job.error ? `: ${job.error}` : ''}`;
  }
}

function duration(job: Job): string {
  if (!job.startedAt || !job.finishedAt) return '';
  return ` in ${formatSeconds((Date.parse(job.finishedAt) - Date.parse(job.startedAt)) / 1000)}`;
}
