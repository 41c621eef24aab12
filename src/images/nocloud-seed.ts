import path from 'node:path';
import { virshArgs } from '../adapters/virsh.js';
import type { Context } from '../context.js';

/*
 * NoCloud seeds for cloud images: ISOs labelled cidata in the libvirt pool, where QEMU can read them
 * whoever runs vmlab. Each machine on a cloud image has its own (src/lab/cloud-init-seed.ts); images
 * registered before that had one per image, vmlab-seed-<image>-0.<build stamp>.iso, which image-rm and gc
 * still remove with the image.
 */

/**
 * The feature a cloud image's record carries: its machines get a NoCloud seed each, with their own key and
 * host name (src/lab/cloud-init-seed.ts), instead of vmlab-identity's SMBIOS credentials.
 */
export const CLOUD_INIT_FEATURE = 'cloud-init';

/** The pool volume of an image-wide seed, as images registered before per-machine seeds had (gc and image-rm). */
export function seedVolumeName(image: string, version: string): string {
  return `vmlab-seed-${image}-${version}.iso`;
}

/** The folder of a dir pool, where its volumes are files. */
export async function poolPath(context: Context): Promise<string> {
  const xml = (await context.runner.run('virsh', ['-c', context.libvirtUri, 'pool-dumpxml', context.pool], { readOnly: true })).stdout;
  const folder = /<path>([^<]+)<\/path>/.exec(xml)?.[1];
  if (!folder) throw new Error(`pool ${context.pool} has no target path`);
  return folder;
}

/** Upload the seed ISO into the pool; returns the path the box's Vagrantfile attaches. */
export async function uploadSeed(context: Context, iso: string, volume: string, sizeBytes: number): Promise<string> {
  const virsh = (args: string[]) => context.runner.run('virsh', ['-c', context.libvirtUri, ...args]);
  await virsh(['vol-create-as', context.pool, volume, String(sizeBytes), '--format', 'raw']);
  try {
    await virsh(['vol-upload', '--pool', context.pool, volume, iso]);
  } catch (error) {
    await virsh(virshArgs.volDelete(context.pool, volume)).catch(() => undefined);
    throw error;
  }
  return path.join(await poolPath(context), volume);
}
