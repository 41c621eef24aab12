import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { IMAGE_BOX_PREFIX } from './resolve-machines.js';

/**
 * What Vagrant recorded about the lab's machines in .vagrant/machines/<name>/libvirt/: a machine that
 * exists has an `id` file, and `box_meta` names the box its disk was made from. Read from files, so that
 * it costs no vagrant run (seconds) and no virsh call per machine.
 */

/** The vmlab image each existing VM was made from, by machine name. */
export async function readBuiltImages(labDir: string): Promise<Map<string, string>> {
  const root = path.join(labDir, '.vagrant', 'machines');
  const names = await readdir(root).catch(() => [] as string[]);
  const built = new Map<string, string>();
  await Promise.all(
    names.map(async (name) => {
      const dir = path.join(root, name, 'libvirt');
      const created = await stat(path.join(dir, 'id')).then((info) => info.size > 0, () => false);
      if (!created) return;
      const image = parseBoxMeta(await readFile(path.join(dir, 'box_meta'), 'utf8').catch(() => ''));
      if (image) built.set(name, image);
    }),
  );
  return built;
}

/** box_meta: {"name":"vmlab/debian-12","version":"...","provider":"libvirt"} -> "debian-12" (a vmlab box only). */
export function parseBoxMeta(text: string): string | undefined {
  try {
    const name = (JSON.parse(text) as { name?: unknown }).name;
    return typeof name === 'string' && name.startsWith(IMAGE_BOX_PREFIX) ? name.slice(IMAGE_BOX_PREFIX.length) : undefined;
  } catch {
    return undefined;
  }
}
