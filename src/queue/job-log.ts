import { mkdir, open, type FileHandle } from 'node:fs/promises';
import path from 'node:path';

/** A job's log file (VMLAB_HOME/logs/<id>.log): one timestamped line per step and per line of build output. */
export class JobLog {
  private pending: Promise<unknown> = Promise.resolve();

  private constructor(
    readonly file: string,
    private readonly handle: FileHandle,
  ) {}

  static async open(file: string): Promise<JobLog> {
    await mkdir(path.dirname(file), { recursive: true });
    return new JobLog(file, await open(file, 'a'));
  }

  /** Callable from synchronous callbacks: lines are written in order, errors are not the build's problem. */
  line(text: string): void {
    const stamped = text
      .split('\n')
      .map((part) => `${new Date().toISOString()} ${part}\n`)
      .join('');
    this.pending = this.pending.then(() => this.handle.appendFile(stamped)).catch(() => undefined);
  }

  async close(): Promise<void> {
    await this.pending;
    await this.handle.close();
  }
}
