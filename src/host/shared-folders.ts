import { readdir, readFile, access } from 'node:fs/promises';
import path from 'node:path';

/**
 * How a machine's folders: are shared. virtiofs (fast, full POSIX, ownership passed through) needs the
 * host's virtiofsd, which libvirt finds through QEMU's vhost-user descriptors (a JSON file of type "fs");
 * without one, QEMU's own 9p server, which needs nothing on the host but a guest kernel with 9p (the
 * base image's cloud kernel has virtiofs and no 9p: a 9p share needs an image with the generic kernel).
 * VMLAB_SHARED_FOLDERS=virtiofs|9p forces one.
 */
export type SharedFolderType = 'virtiofs' | '9p';

export const VHOST_USER_DIRS = ['/etc/qemu/vhost-user', '/usr/share/qemu/vhost-user'];

export interface SharedFolderDecision {
  type: SharedFolderType;
  reason: string;
}

export async function decideSharedFolders(env: NodeJS.ProcessEnv, dirs: readonly string[] = VHOST_USER_DIRS): Promise<SharedFolderDecision> {
  const forced = env.VMLAB_SHARED_FOLDERS;
  if (forced === 'virtiofs' || forced === '9p') return { type: forced, reason: 'VMLAB_SHARED_FOLDERS' };
  const daemon = await findVirtiofsd(dirs);
  return daemon
    ? { type: 'virtiofs', reason: `the host has virtiofsd (${daemon})` }
    : { type: '9p', reason: 'the host has no virtiofsd (install the virtiofsd package, or qemu-system-common on Debian 12, for virtiofs)' };
}

/** The virtiofsd binary a vhost-user descriptor names, if it exists. */
async function findVirtiofsd(dirs: readonly string[]): Promise<string | undefined> {
  for (const dir of dirs) {
    const files = await readdir(dir).catch(() => [] as string[]);
    for (const file of files.filter((name) => name.endsWith('.json')).sort()) {
      const descriptor = await readFile(path.join(dir, file), 'utf8').then((text) => JSON.parse(text) as { type?: string; binary?: string }, () => undefined);
      if (descriptor?.type !== 'fs' || !descriptor.binary) continue;
      if (await access(descriptor.binary).then(() => true, () => false)) return descriptor.binary;
    }
  }
  return undefined;
}
