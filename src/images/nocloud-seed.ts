import path from 'node:path';
import { virshArgs } from '../adapters/virsh.js';
import type { Context } from '../context.js';

/*
 * A NoCloud seed for cloud images: an ISO labelled cidata whose user-data creates the vagrant user.
 * It lives in the libvirt pool as vmlab-seed-<image>-0.<build stamp>.iso (the leading part of its box
 * version), so that QEMU can read it whoever runs vmlab, and image-rm removes it with the image.
 */

/**
 * The feature a cloud image's record carries: its machines get a NoCloud seed each, with their own key and
 * host name (src/lab/cloud-init-seed.ts), instead of vmlab-identity's SMBIOS credentials.
 */
export const CLOUD_INIT_FEATURE = 'cloud-init';

/**
 * Vagrant's insecure public key, copied from the vagrant package (gems/vagrant-2.3.4/keys/vagrant.pub).
 * Every Vagrant version still tries its private half on a box's first boot, then replaces it with a key of
 * the machine's own.
 */
export const VAGRANT_INSECURE_PUBLIC_KEYS = [
  'ssh-rsa AAAAB3NzaC1yc2EAAAABIwAAAQEA6NF8iallvQVp22WDkTkyrtvp9eWW6A8YVr+kz4TjGYe7gHzIw+niNltGEFHzD8+v1I2YJ6oXevct1YeS0o9HZyN1Q9qgCgzUFtdOKLv6IedplqoPkcmF0aYet2PkEDo3MlTBckFXPITAMzF8dJSIFo9D8HfdOV0IAdx4O7PtixWKn5y2hMNG0zQPyUecp4pzC6kivAIhyfHilFR61RGL+GPXQ2MWZWFYbAGjyiYJnAmCP3NOTd0jMZEnDkbUvxhMmBYSdETk1rRgm+R4LOzFUGaHqHDLKLX+FIPKcF96hrucXzcWyLbIbEgE98OHlnVYCzRdK8jlqm8tehUc9c9WhQ== vagrant insecure public key',
];

/** NoCloud user-data: a vagrant user with passwordless sudo that accepts Vagrant's insecure keys. */
export function seedUserData(keys: readonly string[] = VAGRANT_INSECURE_PUBLIC_KEYS): string {
  return [
    '#cloud-config',
    'users:',
    '  - name: vagrant',
    '    gecos: Vagrant',
    '    shell: /bin/bash',
    '    sudo: "ALL=(ALL) NOPASSWD:ALL"',
    '    lock_passwd: true',
    '    ssh_authorized_keys:',
    ...keys.map((key) => `      - ${JSON.stringify(key.trim())}`),
    '',
  ].join('\n');
}

export function seedMetaData(instanceId: string): string {
  return `instance-id: ${instanceId}\nlocal-hostname: vmlab\n`;
}

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
