import { mkdir, open, type FileHandle } from 'node:fs/promises';
import path from 'node:path';

/** One log file per build under VMLAB_HOME/logs, every line of the builder's output with a timestamp. */
export class BuildLog {
  private constructor(
    readonly file: string,
    private readonly handle: FileHandle,
  ) {}

  static async open(home: string, image: string): Promise<BuildLog> {
    const dir = path.join(home, 'logs');
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const file = path.join(dir, `${image}-${new Date().toISOString().replace(/[:.]/g, '-')}.log`);
    return new BuildLog(file, await open(file, 'a', 0o600));
  }

  async line(text: string): Promise<void> {
    await this.handle.appendFile(`${new Date().toISOString()} ${text}\n`);
  }

  async close(): Promise<void> {
    await this.handle.close();
  }
}
