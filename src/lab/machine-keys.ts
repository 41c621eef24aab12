import { mkdir, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { generateKeyPair } from '../adapters/ssh-keygen.js';
import type { Context } from '../context.js';
import { CLOUD_INIT_FEATURE } from '../images/nocloud-seed.js';
import { Registry } from '../images/registry.js';

/**
 * Each machine's own SSH key, made on the host when its VM is created and handed to the guest before its
 * first boot (SMBIOS, read by the image's vmlab-identity unit), so that Vagrant never logs in with its
 * insecure key and never spends a first boot generating and swapping a key pair. The key lives in
 * VMLAB_HOME/keys/<domain> and goes with the machine (make delete).
 *
 * A machine whose VM was made before vmlab did this, or from an image without vmlab-identity, has no key
 * here and keeps Vagrant's own swap: it still starts, lists and deletes as before.
 */

/** The guest feature an image must carry for vmlab to hand its machines their identity (BASE_GUEST_FEATURES). */
export const IDENTITY_FEATURE = 'vmlab-identity';
/** A cloud image takes the same identity from each machine's NoCloud seed (cloud-init-seed.ts). */
const IDENTITY_FEATURES = [IDENTITY_FEATURE, CLOUD_INIT_FEATURE];

export interface MachineKey {
  privateKey: string;
  publicKey: string;
}

export function machineKeyFile(home: string, domain: string): string {
  return path.join(home, 'keys', domain);
}

/** The keys of those domains that have one. */
export async function readMachineKeys(home: string, domains: string[]): Promise<Map<string, MachineKey>> {
  const keys = new Map<string, MachineKey>();
  await Promise.all(
    domains.map(async (domain) => {
      const privateKey = machineKeyFile(home, domain);
      const publicKey = await readFile(`${privateKey}.pub`, 'utf8').catch(() => undefined);
      if (publicKey?.startsWith('ssh-ed25519 ')) keys.set(domain, { privateKey, publicKey: publicKey.trim() });
    }),
  );
  return keys;
}

/** A new key pair for a machine about to be created (an old one, from a VM that is gone, is replaced). */
export async function makeMachineKey(context: Context, domain: string): Promise<void> {
  const file = machineKeyFile(context.home, domain);
  if (context.dryRun) {
    await generateKeyPair(context.runner, file, domain);
    return;
  }
  await mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  await removeMachineKey(context, domain);
  await generateKeyPair(context.runner, file, domain);
}

export async function removeMachineKey(context: Context, domain: string): Promise<void> {
  if (context.dryRun) return;
  const file = machineKeyFile(context.home, domain);
  await rm(file, { force: true });
  await rm(`${file}.pub`, { force: true });
}

/**
 * Before machines are created: a new key for each one whose image carries vmlab-identity, and none for the
 * others (their images cannot take one, so Vagrant's own key swap stays in force for them).
 */
export async function prepareMachineKeys(context: Context, machines: { domain: string; image: string }[]): Promise<void> {
  const index = await new Registry(context.home).read();
  for (const machine of machines) {
    if (index.images[machine.image]?.features.some((feature) => IDENTITY_FEATURES.includes(feature))) await makeMachineKey(context, machine.domain);
    else await removeMachineKey(context, machine.domain);
  }
}
