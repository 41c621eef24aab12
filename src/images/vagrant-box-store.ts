import os from 'node:os';
import path from 'node:path';
import { parseBoxList, VAGRANT_ENV } from '../adapters/vagrant.js';
import type { Context } from '../context.js';
import { UserError } from '../errors.js';
import type { ImageSource } from './image-schema.js';

/** Boxes Vagrant already holds on this host: which versions exist and where their disks are. */

type BoxSource = Extract<ImageSource, { type: 'box' }>;

/** Vagrant keeps box "a/b" under boxes/a-VAGRANTSLASH-b. */
export function boxDirectoryName(box: string): string {
  return box.replaceAll('/', '-VAGRANTSLASH-');
}

export function vagrantHome(env: NodeJS.ProcessEnv): string {
  return env.VAGRANT_HOME ? path.resolve(env.VAGRANT_HOME) : path.join(env.HOME || os.homedir(), '.vagrant.d');
}

/** Where Vagrant unpacked a libvirt box: <VAGRANT_HOME>/boxes/<name>/<version>/libvirt/box.img */
export function vagrantBoxImage(env: NodeJS.ProcessEnv, box: string, version: string): string {
  return path.join(vagrantHome(env), 'boxes', boxDirectoryName(box), version, 'libvirt', 'box.img');
}

/** Compare Vagrant box versions ("1.2.10" > "1.2.9"); numeric parts numerically. */
export function compareBoxVersions(a: string, b: string): number {
  const pa = a.split(/[.-]/);
  const pb = b.split(/[.-]/);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const x = pa[i] ?? '';
    const y = pb[i] ?? '';
    if (x === y) continue;
    if (/^\d+$/.test(x) && /^\d+$/.test(y)) return Number(x) < Number(y) ? -1 : 1;
    return x < y ? -1 : 1;
  }
  return 0;
}

/** The box a `source.type: box` names, from `vagrant box list` entries: the given version or the newest. */
export function pickBox(
  boxes: { name: string; provider?: string; version?: string }[],
  name: string,
  version?: string,
): { name: string; version: string } | { error: string; hint: string } {
  const all = boxes.filter((box) => box.provider === undefined || box.provider === 'libvirt');
  const versions = all.filter((box) => box.name === name && box.version).map((box) => box.version as string);
  if (!versions.length) {
    const listed = all.map((box) => `${box.name} ${box.version ?? ''}`.trim());
    return {
      error: `no Vagrant box "${name}" for libvirt on this host`,
      hint: `Boxes on this host: ${listed.length ? listed.join(', ') : 'none'}. Add one with: vagrant box add ${name} --provider libvirt`,
    };
  }
  if (version) {
    if (versions.includes(version)) return { name, version };
    return { error: `Vagrant box ${name} has no version ${version}`, hint: `Versions on this host: ${versions.sort(compareBoxVersions).join(', ')}` };
  }
  return { name, version: versions.sort(compareBoxVersions).at(-1) as string };
}

/** The Vagrant box a box source names, resolved against `vagrant box list`. */
export async function resolveVagrantBox(context: Context, imageName: string, source: BoxSource): Promise<{ name: string; version: string; image: string }> {
  const list = await context.runner.run('vagrant', ['box', 'list', '--machine-readable'], { readOnly: true, env: VAGRANT_ENV });
  const picked = pickBox(parseBoxList(list.stdout), source.name, source.version);
  if ('error' in picked) throw new UserError(`image ${imageName}: ${picked.error}`, picked.hint);
  return { ...picked, image: vagrantBoxImage(context.env, picked.name, picked.version) };
}

