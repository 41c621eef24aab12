import { readFile } from 'node:fs/promises';
import type { Context } from '../context.js';
import type { BuildOne } from '../queue/build-one.js';
import { cancelJob } from '../queue/cancel-job.js';
import { estimateSeconds, formatSeconds } from '../queue/eta.js';
import { findJob, loadQueue } from '../queue/load-queue.js';
import { resumeQueue } from '../queue/resume.js';
import { runWorker } from '../queue/worker.js';
import { renderTable } from '../ui/ui.js';

export { buildThroughQueue } from '../queue/build-through-queue.js';

/** make queue: every job, oldest first, with its step, percent and ETA; queued jobs left without a worker get one. */
export async function showQueue(context: Context): Promise<void> {
  const resumed = context.dryRun ? undefined : await resumeQueue(context);
  if (resumed) context.ui.info(`jobs were waiting with no worker (it was stopped or killed): worker ${resumed} takes them on`);
  const jobs = await loadQueue(context);
  const now = Date.now();
  const rows = jobs.map((job) => ({ ...job, etaSeconds: estimateSeconds(job, jobs) }));
  context.ui.result(rows, () =>
    rows.length === 0
      ? 'The build queue is empty. Queue a build: make build IMAGE=debian-12 BG=1'
      : renderTable(
          ['ID', 'IMAGE', 'STATE', 'STEP', 'PERCENT', 'ETA', 'AGE'],
          rows.map((job) => [
            job.id,
            job.image,
            job.state,
            clip(job.state === 'failed' || job.state === 'cancelled' ? (job.error ?? '-') : (job.step ?? '-'), 48),
            job.percent === undefined ? '-' : `${job.percent}%`,
            formatSeconds(job.etaSeconds),
            age(now - Date.parse(job.createdAt)),
          ]),
        ),
  );
}

/** make queue-log JOB=..: the job's log as it is now. */
export async function showJobLog(context: Context, id: string): Promise<void> {
  const { job } = await findJob(context, id);
  const text = await readFile(job.logFile, 'utf8').catch(() => undefined);
  if (text === undefined) context.ui.info(`job ${id} (${job.state}) has no log yet: ${job.logFile}`);
  else context.ui.out(text);
}

/** make queue-cancel JOB=.. */
export async function cancelQueueJob(context: Context, id: string): Promise<void> {
  const cancelled = await cancelJob(context, id);
  const also = cancelled.dependents.length ? ` and the jobs waiting for it: ${cancelled.dependents.join(', ')}` : '';
  context.ui.info(`cancelled job ${id} (image ${cancelled.job.image})${also}`);
  if (cancelled.signalledPid !== undefined) context.ui.info(`told worker ${cancelled.signalledPid} to stop the build (SIGTERM); it cleans up first`);
}

/** vmlab worker (hidden): run queued jobs until nothing is runnable. */
export async function runWorkerCommand(context: Context, buildOne: BuildOne): Promise<void> {
  // main.ts treats SIGTERM as "stop after this step, exit at the second one"; for the worker a SIGTERM
  // is make queue-cancel stopping one build, and the worker goes on. The worker owns SIGTERM while it runs.
  const others = process.listeners('SIGTERM');
  for (const listener of others) process.off('SIGTERM', listener);
  let run: Awaited<ReturnType<typeof runWorker>>;
  try {
    run = await runWorker(context, buildOne);
  } finally {
    for (const listener of others) process.on('SIGTERM', listener);
  }
  if (!run.claimed) context.ui.info('another worker is running the queue; nothing to do');
  for (const job of run.ran) context.ui.info(`job ${job.id} (${job.image}): ${job.state}${job.error ? `: ${job.error}` : ''}`);
}

function clip(text: string, width: number): string {
  const line = text.split('\n')[0] ?? '';
  return line.length > width ? `${line.slice(0, width - 1)}…` : line;
}

function age(ms: number): string {
  const minutes = Math.floor(ms / 60_000);
  if (minutes < 60) return `${minutes}m`;
  if (minutes < 48 * 60) return `${Math.floor(minutes / 60)}h`;
  return `${Math.floor(minutes / 1440)}d`;
}
