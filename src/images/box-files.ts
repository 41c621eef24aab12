import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { copyFile, link, mkdir, readdir, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';

export async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256');
  await pipeline(createReadStream(file), hash);
  return hash.digest('hex');
}

export async function fileSize(file: string): Promise<number> {
  return (await stat(file)).size;
}

/** Hard-link when on the same filesystem (instant, no space), copy otherwise. */
export async function linkOrCopy(from: string, to: string): Promise<void> {
  await mkdir(path.dirname(to), { recursive: true });
  await rm(to, { force: true });
  try {
    await link(from, to);
  } catch {
    await copyFile(from, to);
  }
}

/**
 * Built base boxes are kept outside any clone, keyed by their input digest, so that a fresh clone
 * (or CI) reuses a box whose inputs have not changed instead of building it again.
 */
export function boxCacheDir(env: NodeJS.ProcessEnv): string {
  if (env.VMLAB_CACHE) return path.resolve(env.VMLAB_CACHE);
  const base = env.XDG_CACHE_HOME || path.join(env.HOME || os.homedir(), '.cache');
  return path.join(base, 'vmlab', 'boxes');
}

export function cachedBoxFile(env: NodeJS.ProcessEnv, name: string, digest: string): string {
  return path.join(boxCacheDir(env), `${name}-${digest.slice(0, 16)}.box`);
}

/** Keep one cached box per image: the new one. */
export async function pruneCache(env: NodeJS.ProcessEnv, name: string, keep: string): Promise<void> {
  const dir = boxCacheDir(env);
  for (const file of await readdir(dir).catch(() => [] as string[])) {
    if (file.startsWith(`${name}-`) && file.endsWith('.box') && path.join(dir, file) !== keep && /^[0-9a-f]{16}\.box$/.test(file.slice(name.length + 1))) {
      await rm(path.join(dir, file), { force: true });
    }
  }
}
