import { copyFile, mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import lockfile from 'proper-lockfile';
import { writeFileAtomic } from '../atomic-write.js';
import { UserError } from '../errors.js';
import { zodIssues } from '../yaml-file.js';
import { registryIndexSchema, type ImageRecord, type RegistryIndex } from './registry-schema.js';

/**
 * The image registry under VMLAB_HOME/images: index.json plus one folder per image.
 * The index is validated on every read, changed only under a lock, written atomically, and the
 * previous version is kept as index.json.bak. A corrupt index is reported, never reset.
 */
export class Registry {
  readonly dir: string;
  readonly indexFile: string;

  constructor(home: string) {
    this.dir = path.join(home, 'images');
    this.indexFile = path.join(this.dir, 'index.json');
  }

  imageDir(name: string): string {
    return path.join(this.dir, name);
  }

  boxFile(record: Pick<ImageRecord, 'name' | 'file'>): string {
    return path.join(this.imageDir(record.name), record.file);
  }

  async read(): Promise<RegistryIndex> {
    let text: string;
    try {
      text = await readFile(this.indexFile, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { version: 1, images: {} };
      throw error;
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (error) {
      throw this.corrupt(`not valid JSON (${(error as Error).message})`);
    }
    const result = registryIndexSchema.safeParse(json);
    if (!result.success) throw this.corrupt(zodIssues(result.error).map((issue) => `${issue.path}: ${issue.message}`).join('; '));
    return result.data;
  }

  async get(name: string): Promise<ImageRecord | undefined> {
    return (await this.read()).images[name];
  }

  /** Read, change and write the index as one step under the registry lock. */
  async update<T>(change: (index: RegistryIndex) => T | Promise<T>): Promise<T> {
    await mkdir(this.dir, { recursive: true });
    const release = await lockfile.lock(this.dir, {
      lockfilePath: path.join(this.dir, 'index.lock'),
      retries: { retries: 100, minTimeout: 20, maxTimeout: 250 },
      stale: 60_000,
    });
    try {
      const index = await this.read();
      const result = await change(index);
      const parsed = registryIndexSchema.parse(index);
      await copyFile(this.indexFile, `${this.indexFile}.bak`).catch(() => undefined);
      await writeFileAtomic(this.indexFile, `${JSON.stringify(parsed, null, 2)}\n`);
      return result;
    } finally {
      await release();
    }
  }

  private corrupt(detail: string): UserError {
    return new UserError(
      `the image registry index is corrupt: ${this.indexFile}: ${detail}. Nothing was changed.`,
      `Inspect it, or restore the previous version: cp ${this.indexFile}.bak ${this.indexFile}`,
    );
  }
}

export function childrenOf(index: RegistryIndex, name: string): string[] {
  return Object.values(index.images)
    .filter((image) => image.parent === name && image.name !== name)
    .map((image) => image.name);
}
