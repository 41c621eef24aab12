import path from 'node:path';
import { JsonStateFile } from '../state-file.js';
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
  private readonly state: JsonStateFile<QueueFile>;

  constructor(readonly home: string) {
    this.dir = path.join(home, 'queue');
    this.file = path.join(this.dir, 'queue.json');
    this.logDir = path.join(home, 'logs');
    this.workerPidFile = path.join(this.dir, 'worker.pid');
    this.workerLog = path.join(this.logDir, 'worker.log');
    this.state = new JsonStateFile(this.file, queueFileSchema, () => ({ version: 1 as const, jobs: [] }), 'the build queue', path.join(this.dir, 'queue.lock'));
  }

  jobLogFile(id: string): string {
    return path.join(this.logDir, `${id}.log`);
  }

  async read(): Promise<QueueFile> {
    return this.state.read();
  }

  /** Run `action` while holding the queue lock (other readers still see the last written file). */
  async locked<T>(action: () => Promise<T>): Promise<T> {
    return this.state.locked(action);
  }

  /** Read, change and write queue.json as one step under the lock; nothing is written when nothing changed. */
  async update<T>(change: (queue: QueueFile) => T | Promise<T>): Promise<T> {
    return this.state.update(change);
  }

}
