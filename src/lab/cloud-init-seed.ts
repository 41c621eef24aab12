import { mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { virshArgs } from '../adapters/virsh.js';
import type { Context } from '../context.js';
import { ConfigError, type ConfigIssue, UserError } from '../errors.js';
import { CLOUD_INIT_FEATURE, uploadSeed } from '../images/nocloud-seed.js';
import { Registry } from '../images/registry.js';
import type { RegistryIndex } from '../images/registry-schema.js';
import { mergeUserData, parseUserData, renderUserData, seedMetaDataFor, type UserDataValues } from './cloud-init-user-data.js';
import type { LabFile } from './lab-file.js';
import { machineKeyFile } from './machine-keys.js';
import { labNetworks } from './networks.js';
import type { ResolvedMachine } from './resolve-machines.js';

/*
 * Machines made from a cloud image (an image whose record carries the cloud-init feature) get a NoCloud seed
 * of their own: an ISO labelled cidata in the libvirt pool, <domain>-cidata.iso (so make delete removes it
 * with the machine's other volumes), attached as a cdrom by the lab's Vagrantfile. Its user-data is the
 * machine's cloudInit: file, rendered and merged with the vagrant user, the machine's own key and its
 * host name (cloud-init-user-data.ts): the same first-boot identity as debian-12's machines get in SMBIOS.
 * VMLAB_HOME/cloud-init/<domain>.seed names the volume's path for the Vagrantfile.
 */

const seedRecord = (home: string, domain: string) => path.join(home, 'cloud-init', `${domain}.seed`);
export const machineSeedVolume = (domain: string) => `${domain}-cidata.iso`;

function valuesFor(lab: LabFile['lab'], name: string): UserDataValues {
  const address = labNetworks(lab).addresses.find((entry) => entry.machine === name)?.address ?? '';
  return { name, address, lab: lab.name, domain: `vmlab-${lab.name}-${name}` };
}

function displayPath(file: string): string {
  const relative = path.relative(process.cwd(), file);
  return relative && !relative.startsWith('..') ? relative : file;
}

/** Read, render and check one machine's user-data; every problem is a ConfigError with its line. */
async function loadUserData(labFile: LabFile, name: string, cloudInit: string): Promise<Record<string, unknown>> {
  const file = path.resolve(path.dirname(labFile.file), cloudInit);
  const text = await readFile(file, 'utf8').catch((error: NodeJS.ErrnoException) => {
    const issue: ConfigIssue = { path: `machines.${name}.cloudInit`, message: `cannot read ${file}: ${error.code === 'ENOENT' ? 'no such file' : error.message}`, ...labFile.position(['machines', name, 'cloudInit']) };
    throw new ConfigError(labFile.displayName, [issue], "Paths in cloudInit: are relative to lab.yaml's folder.");
  });
  const rendered = renderUserData(text, valuesFor(labFile.lab, name));
  const parsed = parseUserData(rendered.text);
  const issues = [...rendered.issues, ...parsed.issues];
  if (issues.length) {
    throw new ConfigError(displayPath(file), issues, `Fix the user-data of machine ${name} (cloudInit: in lab.yaml). It starts with the line #cloud-config; see the README's cloud-init section.`);
  }
  return parsed.config;
}

/** Before anything runs: each machine's cloudInit: file exists, is #cloud-config YAML, and its placeholders are known. */
export async function checkCloudInit(labFile: LabFile): Promise<void> {
  for (const [name, machine] of Object.entries(labFile.lab.machines)) {
    if (machine.cloudInit) await loadUserData(labFile, name, machine.cloudInit);
  }
}

/** The seeds of those domains that have one, by domain. */
export async function readMachineSeeds(home: string, domains: string[]): Promise<Map<string, string>> {
  const seeds = new Map<string, string>();
  await Promise.all(
    domains.map(async (domain) => {
      const seed = (await readFile(seedRecord(home, domain), 'utf8').catch(() => ''))?.trim();
      if (seed) seeds.set(domain, seed);
    }),
  );
  return seeds;
}

/**
 * Before machines are created: a seed for each one whose image runs cloud-init (uploaded into the pool,
 * replacing any left by an earlier VM of that name), none for the others. A cloudInit: on a machine whose
 * image has no cloud-init is refused before anything changes.
 */
export async function prepareCloudInitSeeds(context: Context, labFile: LabFile, machines: ResolvedMachine[]): Promise<void> {
  const index = await new Registry(context.home).read();
  checkCloudInitImages(labFile, machines, index, { unbuilt: 'refuse' });
  const withSeed = machines.filter((machine) => index.images[machine.image]?.features.includes(CLOUD_INIT_FEATURE));
  for (const machine of machines) if (!withSeed.includes(machine)) await removeMachineSeed(context, machine.domain);
  for (const machine of withSeed) await writeMachineSeed(context, labFile, machine);
}

/**
 * A cloudInit: on a machine whose image has no cloud-init is refused (before anything changes, for images
 * already registered; images still to build are checked once built, before their machines are made).
 */
export function checkCloudInitImages(labFile: LabFile, machines: ResolvedMachine[], index: RegistryIndex, options: { unbuilt: 'allow' | 'refuse' }): void {
  for (const machine of machines) {
    const cloudInit = labFile.lab.machines[machine.name]?.cloudInit;
    const record = index.images[machine.image];
    if (!cloudInit || (!record && options.unbuilt === 'allow') || record?.features.includes(CLOUD_INIT_FEATURE)) continue;
    throw new UserError(
      `machine ${machine.name} has cloudInit: ${cloudInit}, but its image ${machine.image} does not run cloud-init. Nothing was changed.`,
      'Give it an image made from a cloud image (source: {type: qcow2, ...}, such as image: ubuntu-24.04), or use provision: scripts instead.',
    );
  }
}

async function writeMachineSeed(context: Context, labFile: LabFile, machine: ResolvedMachine): Promise<void> {
  const cloudInit = labFile.lab.machines[machine.name]?.cloudInit;
  const config = cloudInit ? await loadUserData(labFile, machine.name, cloudInit) : {};
  const publicKey = context.dryRun ? 'ssh-ed25519 <the machine key made above>' : (await readFile(`${machineKeyFile(context.home, machine.domain)}.pub`, 'utf8')).trim();
  const volume = machineSeedVolume(machine.domain);
  const folder = path.join(context.home, 'tmp', `seed-${machine.domain}`);
  if (context.dryRun) {
    context.ui.out(`# would write the cloud-init seed of ${machine.name} (user-data${cloudInit ? ` from ${cloudInit}` : ''}, the vagrant user and key, host name ${machine.name})`);
    context.ui.out(`xorriso -as mkisofs -output ${folder}/seed.iso -volid cidata -joliet -rock user-data meta-data`);
    context.ui.out(`virsh vol-upload --pool ${context.pool} ${volume} ${folder}/seed.iso`);
    return;
  }
  await rm(folder, { recursive: true, force: true });
  await mkdir(folder, { recursive: true });
  try {
    await writeFile(path.join(folder, 'user-data'), mergeUserData(config, { hostname: machine.name, authorizedKey: publicKey }));
    await writeFile(path.join(folder, 'meta-data'), seedMetaDataFor(machine.domain, machine.name, Date.now().toString(36)));
    const iso = path.join(folder, 'seed.iso');
    await context.runner.run('xorriso', ['-as', 'mkisofs', '-quiet', '-output', iso, '-volid', 'cidata', '-joliet', '-rock', 'user-data', 'meta-data'], { cwd: folder });
    await context.runner.run('virsh', ['-c', context.libvirtUri, ...virshArgs.volDelete(context.pool, volume)], { check: false });
    const seedPath = await uploadSeed(context, iso, volume, (await stat(iso)).size);
    await mkdir(path.dirname(seedRecord(context.home, machine.domain)), { recursive: true });
    await writeFile(seedRecord(context.home, machine.domain), `${seedPath}\n`);
  } finally {
    await rm(folder, { recursive: true, force: true });
  }
}

/** The seed's record goes with the machine (its volume goes with its other volumes: removeLeftovers). */
export async function removeMachineSeed(context: Context, domain: string): Promise<void> {
  if (!context.dryRun) await rm(seedRecord(context.home, domain), { force: true });
}
