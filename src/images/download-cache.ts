import { createWriteStream } from 'node:fs';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import type { Context } from '../context.js';
import { UserError } from '../errors.js';
import { sha256File } from './box-files.js';

/*
 * Cloud images are downloaded once into a download cache shared by every checkout of this user
 * (VMLAB_DOWNLOADS, default ~/.cache/vmlab/downloads), named by the sha256 the image definition pins:
 * a second image, lab or clone with the same checksum downloads nothing. A download goes to
 * <sha256>.partial first and continues from where it stopped (an HTTP Range request) when it is cut off;
 * only a whole file whose checksum is the pinned one becomes <sha256>.img. A cached file is checked again
 * before each use.
 */

export function downloadCacheDir(env: NodeJS.ProcessEnv): string {
  if (env.VMLAB_DOWNLOADS) return path.resolve(env.VMLAB_DOWNLOADS);
  const base = env.XDG_CACHE_HOME || path.join(env.HOME || os.homedir(), '.cache');
  return path.join(base, 'vmlab', 'downloads');
}

export function cachedDownload(env: NodeJS.ProcessEnv, sha256: string): { file: string; partial: string } {
  const dir = downloadCacheDir(env);
  return { file: path.join(dir, `${sha256}.img`), partial: path.join(dir, `${sha256}.partial`) };
}

/** "12 MiB of 580 MiB (2%)": the progress line of a download. */
export function downloadProgress(received: number, total: number): string {
  const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(0)} MiB`;
  return total ? `${mib(received)} of ${mib(total)} (${Math.floor((received / total) * 100)}%)` : mib(received);
}

export function sha256Mismatch(imageName: string, where: string, expected: string, actual: string, file: string): UserError {
  return new UserError(
    `image ${imageName}: sha256 mismatch for ${where}: expected ${expected}, actual ${actual}`,
    `Nothing was registered. Check the file, or correct source.sha256 in ${file}`,
  );
}

/**
 * The file of a URL whose content must have this sha256: from the cache (checked again), or downloaded
 * (resumed when a partial download is there) and checked before it is kept. A mismatch removes the file.
 */
export async function fetchVerified(context: Context, image: { name: string; file: string }, url: string, sha256: string): Promise<string> {
  const { file, partial } = cachedDownload(context.env, sha256);
  if (await exists(file)) {
    const actual = await sha256File(file);
    if (actual === sha256) {
      context.ui.info(`image ${image.name}: using the downloaded ${path.basename(url)} from ${file} (checksum checked)`);
      return file;
    }
    context.ui.warn(`image ${image.name}: the cached download ${file} has sha256 ${actual}, not ${sha256}; downloading it again`);
    await rm(file, { force: true });
  }
  await mkdir(path.dirname(file), { recursive: true });
  await download(context, image.name, url, partial);
  const actual = await sha256File(partial);
  if (actual !== sha256) {
    await rm(partial, { force: true });
    throw sha256Mismatch(image.name, url, sha256, actual, image.file);
  }
  await rename(partial, file);
  return file;
}

/** Stream a URL to `to`, appending to what is there when the server can continue it (206). */
async function download(context: Context, imageName: string, url: string, to: string): Promise<void> {
  const already = (await stat(to).catch(() => undefined))?.size ?? 0;
  const progress = context.ui.progress(`image ${imageName}: downloading ${url}${already ? ` (continuing after ${downloadProgress(already, 0)})` : ''}`);
  const fail = (detail: string) => {
    progress.fail(`image ${imageName}: download failed`);
    return new UserError(
      `image ${imageName}: downloading ${url} failed: ${detail}`,
      `Check the URL and the network, then build again (a cut-off download continues where it stopped); or download it yourself and give source.path instead.`,
    );
  };
  let response: Response;
  try {
    response = await fetch(url, { redirect: 'follow', headers: already ? { Range: `bytes=${already}-` } : {} });
  } catch (error) {
    const cause = (error as { cause?: { message?: string; code?: string } }).cause;
    throw fail(cause?.message ?? cause?.code ?? (error as Error).message);
  }
  // 416: the partial file is already whole (or longer than the file): start again from nothing.
  if (response.status === 416) {
    await rm(to, { force: true });
    progress.fail(`image ${imageName}: the partial download could not be continued; starting again`);
    return download(context, imageName, url, to);
  }
  if (!response.ok || !response.body) throw fail(`HTTP ${response.status} ${response.statusText}`.trim());
  const resumed = response.status === 206;
  let received = resumed ? already : 0;
  const total = (Number(response.headers.get('content-length')) || 0) + (resumed ? already : 0);
  let shown = received;
  const body = Readable.fromWeb(response.body as WebReadableStream<Uint8Array>);
  body.on('data', (chunk: Buffer) => {
    received += chunk.length;
    if (received - shown >= 8 * 2 ** 20) {
      shown = received;
      progress.update(`image ${imageName}: downloading ${url}: ${downloadProgress(received, total)}`);
    }
  });
  try {
    await pipeline(body, createWriteStream(to, { flags: resumed ? 'a' : 'w' }));
  } catch (error) {
    throw fail(`${(error as Error).message} after ${downloadProgress(received, total)}`);
  }
  progress.succeed(`image ${imageName}: downloaded ${downloadProgress(received, total)}`);
}

async function exists(file: string): Promise<boolean> {
  return stat(file).then(
    (info) => info.isFile(),
    () => false,
  );
}
