import { mkdir, readFile, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { z } from 'zod';
import { JsonStateFile } from '../state-file.js';

/*
 * Several checkouts (several VMLAB_HOME) may share one host's Vagrant box store and libvirt pool. Each
 * registry adds its index.json here when it writes it, so that `make gc` in any checkout knows what every
 * other one still claims. $XDG_STATE_HOME/vmlab/registries.json (default ~/.local/state/vmlab/);
 * VMLAB_STATE_DIR overrides the folder (tests).
 */

const knownRegistriesSchema = z
  .object({
    version: z.literal(1),
    /** Absolute paths of index.json files. */
    registries: z.array(z.string()),
  })
  .strict();

export type KnownRegistries = z.infer<typeof knownRegistriesSchema>;

export function stateDir(env: NodeJS.ProcessEnv): string {
  if (env.VMLAB_STATE_DIR) return path.resolve(env.VMLAB_STATE_DIR);
  const base = env.XDG_STATE_HOME ? path.resolve(env.XDG_STATE_HOME) : path.join(env.HOME || os.homedir(), '.local', 'state');
  return path.join(base, 'vmlab');
}

function knownRegistriesFile(env: NodeJS.ProcessEnv): JsonStateFile<KnownRegistries> {
  const file = path.join(stateDir(env), 'registries.json');
  return new JsonStateFile(file, knownRegistriesSchema, () => ({ version: 1 as const, registries: [] }), 'the host-wide list of vmlab registries');
}

export function knownRegistriesPath(env: NodeJS.ProcessEnv): string {
  return knownRegistriesFile(env).file;
}

/** The listed index files; throws (a UserError naming the file) when the list is corrupt. */
export async function readKnownRegistries(env: NodeJS.ProcessEnv): Promise<string[]> {
  return (await knownRegistriesFile(env).read()).registries;
}

/**
 * Add a registry's index.json to the host-wide list (once), dropping registries that are gone (deleted
 * checkouts, tests' temporary ones) on the way. Checked without the lock first: the list changes rarely,
 * and every registry write calls this. The registry's folder is made first, so that it never counts as
 * gone once listed.
 */
export async function rememberRegistry(indexFile: string, env: NodeJS.ProcessEnv = process.env): Promise<void> {
  const file = path.resolve(indexFile);
  const state = knownRegistriesFile(env);
  const listed = await readFile(state.file, 'utf8')
    .then((text) => (JSON.parse(text) as Partial<KnownRegistries>).registries ?? [])
    .catch(() => [] as string[]);
  if (Array.isArray(listed) && listed.includes(file)) return;
  await mkdir(path.dirname(file), { recursive: true });
  await state.update(async (known) => {
    const gone = new Set<string>();
    for (const other of known.registries) if (other !== file && (await registryGone(other))) gone.add(other);
    known.registries = known.registries.filter((other) => !gone.has(other));
    if (!known.registries.includes(file)) known.registries.push(file);
  });
}

/** Whether a listed registry is gone: neither its index.json nor its folder exists (a deleted checkout). */
export async function registryGone(indexFile: string): Promise<boolean> {
  const exists = (file: string) => stat(file).then(() => true, (error: NodeJS.ErrnoException) => error.code !== 'ENOENT');
  return !(await exists(indexFile)) && !(await exists(path.dirname(indexFile)));
}

/** Drop these index files from the list. */
export async function forgetRegistries(indexFiles: string[], env: NodeJS.ProcessEnv): Promise<void> {
  if (!indexFiles.length) return;
  await knownRegistriesFile(env).update((known) => {
    known.registries = known.registries.filter((file) => !indexFiles.includes(file));
  });
}
