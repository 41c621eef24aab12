import { UserError } from '../errors.js';
import { requireRole } from '../roles/load-roles.js';
import type { Role } from '../roles/role-schema.js';
import path from 'node:path';
import type { Lab, MachineSpec } from './lab-schema.js';
import { labNetworks, type MachineAddress } from './networks.js';
import { dataDiskSerial } from './storage-schema.js';

/** A declared machine with every default filled in: what the Vagrantfile and the lifecycle act on. */
export interface ResolvedMachine {
  name: string;
  role: string;
  image: string;
  /** The Vagrant box name of the image. */
  box: string;
  /** vagrant-libvirt names the domain <prefix><name>; cleanup finds vmlab's objects by it. */
  domainPrefix: string;
  domain: string;
  cpus: number;
  memory: number;
  disk: number;
  settings: Record<string, string>;
  /** Features to run at first boot: those of the role that the image does not already contain. */
  provision: { name: string; script: string }[];
  /** The groups the machine is in (its group: and every groups: entry naming it). */
  groups: string[];
  /** Its static address on a private network, if it has one. */
  address?: MachineAddress;
  /** The lab's own scripts (provision: in lab.yaml), absolute, run after the features at first boot. */
  scripts: string[];
  /** Secret names: the scripts get <NAME> from VMLAB_SECRET_<NAME> in vmlab's environment. */
  secrets: string[];
  /** "10.20.0.11 web": the lab's machines with addresses, for /etc/hosts (only on machines with one). */
  hosts: string[];
  /** Shared folders: the host folder (absolute) and where the guest sees it. */
  folders?: { host: string; guest: string }[];
  /** Data disks in their order (vdb, vdc, ...), with the serial the guest finds them by. */
  dataDisks?: { size: number; mount?: string; serial: string }[];
}

/** vmlab's images are Vagrant boxes named vmlab/<image>. */
export const IMAGE_BOX_PREFIX = 'vmlab/';

export function boxName(image: string): string {
  return `${IMAGE_BOX_PREFIX}${image}`;
}

export function domainPrefix(lab: Lab): string {
  return `vmlab-${lab.name}-`;
}

/** Which features an image already contains. A role image contains its parent's and its role's. */
export type ImageFeatures = (image: string) => ReadonlySet<string>;

/** Without a registry entry, an image named after a role is taken to hold that role's features. */
export function featuresFromRoles(roles: Map<string, Role>): ImageFeatures {
  return (image) => {
    const owner = [...roles.values()].find((role) => role.image === image && role.parent !== image);
    return new Set(owner?.features ?? []);
  };
}

/** The groups of a machine: its own group: first, then the groups: entries that name it. */
export function groupsOf(lab: Lab, name: string): string[] {
  const named = Object.entries(lab.groups)
    .filter(([, members]) => members.includes(name))
    .map(([group]) => group);
  return [...new Set([...(lab.machines[name]?.group ? [lab.machines[name]!.group!] : []), ...named])];
}

export function resolveMachine(
  lab: Lab,
  name: string,
  spec: MachineSpec,
  roles: Map<string, Role>,
  imageFeatures: ImageFeatures,
  context: { labDir: string; addresses?: MachineAddress[]; builtFrom?: ReadonlyMap<string, string> } = { labDir: '.' },
): ResolvedMachine {
  const role = requireRole(roles, spec.role);
  const addresses = context.addresses ?? labNetworks(lab).addresses;
  const address = addresses.find((entry) => entry.machine === name);
  // A VM stands on the image it was made from, whatever the role prefers now (the base role's image was
  // debian-12 before it had one of its own).
  const image = context.builtFrom?.get(name) ?? spec.image ?? role.image;
  const contained = imageFeatures(image);
  return {
    name,
    role: role.name,
    image,
    box: boxName(image),
    domainPrefix: domainPrefix(lab),
    domain: `${domainPrefix(lab)}${name}`,
    cpus: spec.cpus ?? role.resources.cpus,
    memory: spec.memory ?? role.resources.memory,
    disk: spec.disk ?? role.resources.disk,
    settings: role.settings,
    provision: role.features
      .map((feature, index) => ({ name: feature, script: role.featureScripts[index] ?? '' }))
      .filter((feature) => !contained.has(feature.name)),
    groups: groupsOf(lab, name),
    ...(address ? { address } : {}),
    scripts: (spec.provision ?? []).map((script) => path.resolve(context.labDir, script)),
    secrets: spec.secrets ?? [],
    hosts: address ? addresses.map((entry) => `${entry.address} ${entry.machine}`) : [],
    folders: Object.entries(spec.folders ?? {}).map(([host, guest]) => ({ host: path.resolve(context.labDir, host), guest })),
    dataDisks: (spec.disks ?? []).map((disk, index) => ({ ...disk, serial: dataDiskSerial(index) })),
  };
}

export function resolveLab(
  lab: Lab,
  roles: Map<string, Role>,
  imageFeatures: ImageFeatures,
  labDir = '.',
  builtFrom: ReadonlyMap<string, string> = new Map(),
): ResolvedMachine[] {
  const { addresses } = labNetworks(lab);
  return Object.entries(lab.machines).map(([name, spec]) => resolveMachine(lab, name, spec, roles, imageFeatures, { labDir, addresses, builtFrom }));
}

export function requireMachine(lab: Lab, name: string): MachineSpec {
  const spec = lab.machines[name];
  if (!spec) {
    const known = Object.keys(lab.machines);
    throw new UserError(
      `no machine named "${name}" in lab.yaml`,
      known.length ? `Known machines: ${known.join(', ')}. See: make list` : 'Create one first: make create-base NAME=' + name,
      2,
    );
  }
  return spec;
}
