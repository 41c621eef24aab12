import { UserError } from '../errors.js';
import { requireRole } from '../roles/load-roles.js';
import type { Role } from '../roles/role-schema.js';
import type { Lab, MachineSpec } from './lab-schema.js';

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
}

export function boxName(image: string): string {
  return `vmlab/${image}`;
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

export function resolveMachine(
  lab: Lab,
  name: string,
  spec: MachineSpec,
  roles: Map<string, Role>,
  imageFeatures: ImageFeatures,
): ResolvedMachine {
  const role = requireRole(roles, spec.role);
  const image = spec.image ?? role.image;
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
  };
}

export function resolveLab(lab: Lab, roles: Map<string, Role>, imageFeatures: ImageFeatures): ResolvedMachine[] {
  return Object.entries(lab.machines).map(([name, spec]) => resolveMachine(lab, name, spec, roles, imageFeatures));
}

export function requireMachine(lab: Lab, name: string): MachineSpec {
  const spec = lab.machines[name];
  if (!spec) {
    const known = Object.keys(lab.machines);
    throw new UserError(
      `no machine named "${name}" in lab.yaml`,
      known.length ? `Known machines: ${known.join(', ')}. See: make list` : 'Create one first: make create-base NAME=' + name,
      1,
    );
  }
  return spec;
}
