import type { QueueStore } from './queue-store.js';

/**
 * Writes a running job's step and percent to queue.json at most once per interval (a build can print
 * hundreds of steps a second), and watches for the job being cancelled from elsewhere.
 */
export class ProgressWriter {
  private pending: { step: string; percent: number } | undefined;
  private timer: NodeJS.Timeout | undefined;
  private lastWrite = 0;
  private writing: Promise<void> = Promise.resolve();
  private readonly watcher: NodeJS.Timeout;

  constructor(
    private readonly store: QueueStore,
    private readonly id: string,
    private readonly intervalMs: number,
    private readonly onCancelled: () => void,
    private readonly onError: (error: unknown) => void,
  ) {
    // A cancel from another process also sends SIGTERM; a cancel from this process is only seen here.
    this.watcher = setInterval(() => void this.checkCancelled(), intervalMs);
    this.watcher.unref();
  }

  report(step: string, percent: number): void {
    this.pending = { step, percent: Math.max(0, Math.min(100, Math.round(percent))) };
    if (this.timer) return;
    this.timer = setTimeout(() => this.flush(), Math.max(0, this.lastWrite + this.intervalMs - Date.now()));
  }

  /** Stop writing; waits for a write under way. */
  async stop(): Promise<void> {
    clearInterval(this.watcher);
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.writing;
  }

  private flush(): void {
    this.timer = undefined;
    const progress = this.pending;
    this.pending = undefined;
    if (!progress) return;
    this.lastWrite = Date.now();
    this.writing = this.writing
      .then(() =>
        this.store.update((queue) => {
          const job = queue.jobs.find((candidate) => candidate.id === this.id);
          if (job?.state === 'running') Object.assign(job, progress);
          else if (job?.state === 'cancelled') this.onCancelled();
        }),
      )
      .catch(this.onError);
  }

  private async checkCancelled(): Promise<void> {
    const queue = await this.store.read().catch(() => undefined);
    if (queue?.jobs.find((job) => job.id === this.id)?.state === 'cancelled') this.onCancelled();
  }
}
