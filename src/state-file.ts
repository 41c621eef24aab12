import { copyFile, readFile } from 'node:fs/promises';
import path from 'node:path';
import { withLock } from './lock.js';
import type { z } from 'zod';
import { writeFileAtomic } from './atomic-write.js';
import { UserError } from './errors.js';
import { fileAccessError } from './file-error.js';
import { zodIssues } from './yaml-file.js';

/**
 * A JSON state file (the image registry's index, the build queue): validated on every read, changed
 * only under a lock, written atomically with the previous version kept as <file>.bak, and written
 * only when something changed. A corrupt file is reported with the way back, never reset.
 */
export class JsonStateFile<T> {
  constructor(
    readonly file: string,
    private readonly schema: z.ZodType<T, z.ZodTypeDef, unknown>,
    private readonly empty: () => T,
    /** What the file is, for messages: "the image registry index". */
    private readonly what: string,
    private readonly lockFile = `${file}.lock`,
  ) {}

  async read(): Promise<T> {
    let text: string;
    try {
      text = await readFile(this.file, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return this.empty();
      // Not readable (permissions, a folder in its place): say which file and how to fix it, never crash.
      throw fileAccessError(error, { what: this.what, verb: 'read', file: this.file }) ?? error;
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (error) {
      throw this.corrupt(`not valid JSON (${(error as Error).message})`);
    }
    const result = this.schema.safeParse(json);
    if (!result.success) throw this.corrupt(zodIssues(result.error).map((issue) => `${issue.path}: ${issue.message}`).join('; '));
    return result.data;
  }

  /** Run `action` while holding the lock (readers still see the last written file). */
  async locked<R>(action: () => Promise<R>): Promise<R> {
    return withLock(path.dirname(this.file), this.lockFile, action);
  }

  /** Read, change and write as one step under the lock. */
  async update<R>(change: (state: T) => R | Promise<R>): Promise<R> {
    return this.ownErrors(this.locked(async () => {
      const state = await this.read();
      const before = JSON.stringify(state, null, 2);
      const result = await change(state);
      const text = JSON.stringify(this.schema.parse(state), null, 2);
      if (text !== before) {
        await copyFile(this.file, `${this.file}.bak`).catch(() => undefined);
        await writeFileAtomic(this.file, `${text}\n`);
      }
      return result;
    }));
  }

  /** A lock or write that failed on this file's own folder is this file's problem: name it with the fix. */
  private async ownErrors<R>(work: Promise<R>): Promise<R> {
    try {
      return await work;
    } catch (error) {
      const where = (error as NodeJS.ErrnoException).path;
      const own = where !== undefined && (where === this.file || path.dirname(where) === path.dirname(this.file) || where === path.dirname(this.file));
      throw (own ? fileAccessError(error, { what: this.what, verb: 'write' }) : undefined) ?? error;
    }
  }

  private corrupt(detail: string): UserError {
    return new UserError(
      `${this.what} is corrupt: ${this.file}: ${detail}. Nothing was changed.`,
      `Inspect it, or restore the previous version: cp ${this.file}.bak ${this.file}`,
    );
  }
}
