import { z } from 'zod';

export const jobStateSchema = z.enum(['queued', 'running', 'done', 'failed', 'cancelled']);

/** One image build in the queue. Jobs are kept in the order they were enqueued (oldest first). */
export const jobSchema = z
  .object({
    /** j-<base36 milliseconds><2 random base36 characters>, short enough to type. */
    id: z.string().regex(/^j-[0-9a-z]+$/),
    image: z.string(),
    force: z.boolean(),
    state: jobStateSchema,
    createdAt: z.string(),
    startedAt: z.string().optional(),
    finishedAt: z.string().optional(),
    /** The build's current step, in words ("3/7 installing packages"). */
    step: z.string().optional(),
    percent: z.number().min(0).max(100).optional(),
    /** VMLAB_HOME/logs/<id>.log: every step line and the build's output. */
    logFile: z.string(),
    error: z.string().optional(),
    /** The worker process running the job; a running job whose worker is gone was interrupted. */
    workerPid: z.number().int().positive().optional(),
    /** Jobs that must be done before this one starts (the parent image's job). */
    dependsOn: z.array(z.string()),
    /**
     * 'up to date' when the build found nothing to do, 'cached' when it registered a box from the box cache;
     * neither counts towards the ETA (they say nothing about how long a build takes).
     */
    result: z.enum(['built', 'up to date', 'cached']).optional(),
  })
  .strict();

export const queueFileSchema = z
  .object({
    version: z.literal(1),
    jobs: z.array(jobSchema),
  })
  .strict();

export type JobState = z.infer<typeof jobStateSchema>;
export type Job = z.infer<typeof jobSchema>;
export type QueueFile = z.infer<typeof queueFileSchema>;

export const FINISHED: readonly JobState[] = ['done', 'failed', 'cancelled'];

export function isFinished(job: Job): boolean {
  return FINISHED.includes(job.state);
}

export function isActive(job: Job): boolean {
  return job.state === 'queued' || job.state === 'running';
}
