import { copyFile, mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import lockfile from 'proper-lockfile';
import { writeFileAtomic } from '../atomic-write.js';
import { UserError } from '../errors.js';
import { zodIssues } from '../yaml-file.js';
import { queueFileSchema, type QueueFile } from './queue-schema.js';

/**
 * The build queue under VMLAB_HOME/queue: queue.json, validated on every read, changed only under a
 * lock, written atomically with the previous version kept as queue.json.bak. A corrupt file is
 * reported, never reset.
 */
export class QueueStore {
  readonly dir: string;
  readonly file: string;
  readonly logDir: string;
  /** The pid of the one worker allowed to run jobs (see worker-lock.ts). */
  readonly workerPidFile: string;
  /** The detached worker's own output. */
  readonly workerLog: string;

  constructor(readonly home: string) {
    this.dir = path.join(home, 'queue');
    this.file = path.join(this.dir, 'queue.json');
    this.logDir = path.join(home, 'logs');
    this.workerPidFile = path.join(this.dir, 'worker.pid');
    this.workerLog = path.join(this.logDir, 'worker.log');
  }

  jobLogFile(id: string): string {
    return path.join(this.logDir, `${id}.log`);
  }

  async read(): Promise<QueueFile> {
    let text: string;
    try {
      text = await readFile(this.file, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { version: 1, jobs: [] };
      throw error;
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (error) {
      throw this.corrupt(`not valid JSON (${(error as Error).message})`);
    }
    const result = queueFileSchema.safeParse(json);
    if (!result.success) throw this.corrupt(zodIssues(result.error).map((issue) => `${issue.path}: ${issue.message}`).join('; '));
    return result.data;
  }

  /** Run `action` while holding the queue lock (other readers still see the last written file). */
  async locked<T>(action: () => Promise<T>): Promise<T> {
    await mkdir(this.dir, { recursive: true });
    const release = await lockfile.lock(this.dir, {
      lockfilePath: path.join(this.dir, 'queue.lock'),
      retries: { retries: 200, minTimeout: 10, maxTimeout: 200 },
      stale: 30_000,
    });
    try {
      return await action();
    } finally {
      await release();
    }
  }

  /** Read, change and write queue.json as one step under the lock; nothing is written when nothing changed. */
  async update<T>(change: (queue: QueueFile) => T | Promise<T>): Promise<T> {
    return this.locked(async () => {
      const queue = await this.read();
      const before = JSON.stringify(queue);
      const result = await change(queue);
      const parsed = queueFileSchema.parse(queue);
      const text = JSON.stringify(parsed, null, 2);
      if (text !== JSON.stringify(JSON.parse(before), null, 2)) {
        await copyFile(this.file, `${this.file}.bak`).catch(() => undefined);
        await writeFileAtomic(this.file, `${text}\n`);
      }
      return result;
    });
  }

  private corrupt(detail: string): UserError {
    return new UserError(
      `the build queue is corrupt: ${this.file}: ${detail}. Nothing was changed.`,
      `Inspect it, or restore the previous version: cp ${this.file}.bak ${this.file}`,
    );
  }
}
