import { mkdir, open, type FileHandle } from 'node:fs/promises';
import path from 'node:path';

/**
 * A log file under VMLAB_HOME/logs: one timestamped line per step and per line of output. Only its owner may
 * read it (0600): what a provision script prints, a secret included, lands here.
 */
export class JobLog {
  private pending: Promise<unknown> = Promise.resolve();

  private constructor(
    readonly file: string,
    private readonly handle: FileHandle,
  ) {}

  static async open(file: string): Promise<JobLog> {
    await mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
    return new JobLog(file, await open(file, 'a', 0o600));
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
