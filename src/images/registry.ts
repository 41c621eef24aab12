import path from 'node:path';
import { JsonStateFile } from '../state-file.js';
import { rememberRegistry } from './known-registries.js';
import { registryIndexSchema, type ImageRecord, type RegistryIndex } from './registry-schema.js';

/**
 * The image registry under VMLAB_HOME/images: index.json (a JsonStateFile: validated, locked,
 * atomic, never reset when corrupt) plus one folder per image.
 */
export class Registry {
  readonly dir: string;
  readonly indexFile: string;
  private readonly state: JsonStateFile<RegistryIndex>;

  constructor(home: string) {
    this.dir = path.join(home, 'images');
    this.indexFile = path.join(this.dir, 'index.json');
    this.state = new JsonStateFile(this.indexFile, registryIndexSchema, () => ({ version: 1 as const, images: {} }), 'the image registry index', path.join(this.dir, 'index.lock'));
  }

  imageDir(name: string): string {
    return path.join(this.dir, name);
  }

  boxFile(record: Pick<ImageRecord, 'name' | 'file'>): string {
    return path.join(this.imageDir(record.name), record.file);
  }

  async read(): Promise<RegistryIndex> {
    return this.state.read();
  }

  async get(name: string): Promise<ImageRecord | undefined> {
    return (await this.read()).images[name];
  }

  /**
   * Read, change and write the index as one step under the registry lock. The registry is first added
   * to the host-wide list (known-registries.ts), so that `make gc` in another checkout keeps its boxes.
   */
  async update<T>(change: (index: RegistryIndex) => T | Promise<T>): Promise<T> {
    await rememberRegistry(this.indexFile);
    return this.state.update(change);
  }
}

export function childrenOf(index: RegistryIndex, name: string): string[] {
  return Object.values(index.images)
    .filter((image) => image.parent === name && image.name !== name)
    .map((image) => image.name);
}
