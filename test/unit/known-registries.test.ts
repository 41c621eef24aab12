import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { forgetRegistries, readKnownRegistries, registryGone, rememberRegistry, stateDir } from '../../src/images/known-registries.js';
import { Registry } from '../../src/images/registry.js';

let root: string;
let env: NodeJS.ProcessEnv;
const saved = process.env.VMLAB_STATE_DIR;
beforeEach(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'vmlab-known-'));
  env = { VMLAB_STATE_DIR: path.join(root, 'state') };
  // Registry.update() remembers itself through process.env.
  process.env.VMLAB_STATE_DIR = env.VMLAB_STATE_DIR;
});
afterEach(async () => {
  if (saved === undefined) delete process.env.VMLAB_STATE_DIR;
  else process.env.VMLAB_STATE_DIR = saved;
  await rm(root, { recursive: true, force: true });
});

describe('the host-wide list of registries', () => {
  it('lives in $XDG_STATE_HOME/vmlab, ~/.local/state/vmlab by default, VMLAB_STATE_DIR overriding both', () => {
    expect(stateDir({ HOME: '/home/u' })).toBe('/home/u/.local/state/vmlab');
    expect(stateDir({ HOME: '/home/u', XDG_STATE_HOME: '/x/state' })).toBe('/x/state/vmlab');
    expect(stateDir({ HOME: '/home/u', XDG_STATE_HOME: '/x/state', VMLAB_STATE_DIR: '/t/s' })).toBe('/t/s');
  });

  it('a registry adds itself when it writes its index, once, even from many writers at once', async () => {
    const homes = ['a', 'b', 'c'].map((name) => path.join(root, name));
    await Promise.all(homes.flatMap((home) => [1, 2, 3].map((i) => new Registry(home).update((index) => void (index.images = index.images)).then(() => i))));
    expect((await readKnownRegistries(env)).sort()).toEqual(homes.map((home) => path.join(home, 'images/index.json')).sort());
    await rememberRegistry(path.join(homes[0] as string, 'images/index.json'), env);
    expect(await readKnownRegistries(env)).toHaveLength(3);
  });

  it('an absent list is empty; a corrupt one is an error naming the file', async () => {
    expect(await readKnownRegistries(env)).toEqual([]);
    await mkdir(env.VMLAB_STATE_DIR as string, { recursive: true });
    await writeFile(path.join(env.VMLAB_STATE_DIR as string, 'registries.json'), '{"version": 1, "registries": [');
    await expect(readKnownRegistries(env)).rejects.toThrow(/registries\.json: not valid JSON/);
  });

  it('a registry is gone only when neither its index nor its folder exists; gone ones can be forgotten', async () => {
    const index = path.join(root, 'a/images/index.json');
    await mkdir(path.dirname(index), { recursive: true });
    expect(await registryGone(index)).toBe(false);
    await rm(path.join(root, 'a'), { recursive: true });
    expect(await registryGone(index)).toBe(true);
    const b = path.join(root, 'b/images/index.json');
    const c = path.join(root, 'c/images/index.json');
    await rememberRegistry(b, env);
    await forgetRegistries([b], env);
    expect(await readKnownRegistries(env)).toEqual([]);
    await rememberRegistry(b, env);
    expect(await registryGone(b)).toBe(false);
    // Listed by hand: its checkout is deleted; the next registry to add itself drops it.
    await writeFile(path.join(env.VMLAB_STATE_DIR as string, 'registries.json'), JSON.stringify({ version: 1, registries: [index, b] }));
    await rememberRegistry(c, env);
    expect(JSON.parse(await readFile(path.join(env.VMLAB_STATE_DIR as string, 'registries.json'), 'utf8')).registries).toEqual([b, c]);
  });
});
