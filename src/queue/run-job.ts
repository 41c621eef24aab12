import type { Context } from '../context.js';
import { CommandError, UserError } from '../errors.js';
import type { BuildOne } from './build-one.js';
import { CANCELLED_BY_USER } from './cancel-job.js';
import { JobLog } from './job-log.js';
import { jobUi } from './job-ui.js';
import { ProgressWriter } from './progress-writer.js';
import type { Job } from './queue-schema.js';
import type { QueueStore } from './queue-store.js';

export interface RunJobOptions {
  /** Aborted by the worker's signal handler or when the job is cancelled. */
  controller: AbortController;
  progressIntervalMs: number;
}

/** Run one job that the worker has marked running; returns the job as it ended in queue.json. */
export async function runJob(context: Context, store: QueueStore, job: Job, buildOne: BuildOne, options: RunJobOptions): Promise<Job> {
  const log = await JobLog.open(job.logFile);
  log.line(`job ${job.id}: building image ${job.image}${job.force ? ' (force)' : ''} in worker ${process.pid}`);
  const { controller } = options;
  const progress = new ProgressWriter(store, job.id, options.progressIntervalMs, () => controller.abort(CANCELLED_BY_USER), (error) =>
    log.line(`warning: could not record progress: ${(error as Error).message}`),
  );
  let outcome: Pick<Job, 'state' | 'error' | 'result'>;
  try {
    const result = await buildOne({ ...context, ui: jobUi(context.ui, log) }, job.image, {
      force: job.force,
      onStep: (step, percent) => {
        log.line(`STEP ${step} (${Math.round(percent)}%)`);
        progress.report(step, percent);
      },
      log: (line) => log.line(line),
      signal: controller.signal,
    });
    outcome = { state: 'done', result: result?.action ?? 'built' };
  } catch (error) {
    log.line(`error: ${describe(error, true)}`);
    outcome = controller.signal.aborted ? { state: 'cancelled', error: String(controller.signal.reason ?? 'cancelled') } : { state: 'failed', error: describe(error, false) };
  }
  await progress.stop();
  const ended = await store.update((queue) => {
    const current = queue.jobs.find((candidate) => candidate.id === job.id);
    if (!current) return { ...job, ...outcome };
    // A job cancelled meanwhile stays cancelled, even if its build went on to finish.
    if (current.state === 'running') {
      Object.assign(current, outcome, { finishedAt: new Date().toISOString() });
      if (outcome.state === 'done') Object.assign(current, { percent: 100, step: outcome.result === 'up to date' ? 'up to date' : outcome.result === 'cached' ? 'from the cache' : 'built' });
    }
    return { ...current };
  });
  log.line(`job ${job.id}: ${ended.state}${ended.error ? `: ${ended.error}` : ''}`);
  await log.close();
  return ended;
}

function describe(error: unknown, full: boolean): string {
  if (error instanceof UserError) return error.hint ? `${error.message} (${error.hint})` : error.message;
  if (error instanceof CommandError) return full ? error.message : error.message.split('\n')[0] ?? error.message;
  if (error instanceof Error) return full ? (error.stack ?? error.message) : error.message;
  return String(error);
}
