import { UserError } from './errors.js';

/** Machine names become libvirt domain names, hostnames and Vagrant machine names. */
export const MACHINE_NAME = /^[a-z][a-z0-9-]{0,39}$/;
/** Image names become folder names and Vagrant box names (vmlab/<image>). */
export const IMAGE_NAME = /^[a-z][a-z0-9.-]{0,62}$/;
export const ROLE_NAME = /^[a-z][a-z0-9-]{0,39}$/;

export const MACHINE_NAME_RULE = 'a lowercase letter, then lowercase letters, digits and hyphens, at most 40 characters';
export const IMAGE_NAME_RULE = 'a lowercase letter, then lowercase letters, digits, dots and hyphens, at most 63 characters';

export function checkMachineName(name: string): string {
  if (!MACHINE_NAME.test(name) || name.endsWith('-')) {
    throw new UserError(
      `invalid machine name ${JSON.stringify(name)}: use ${MACHINE_NAME_RULE} (not ending in a hyphen)`,
      'Example: make create-docker NAME=web-1',
      2,
    );
  }
  return name;
}

export function checkImageName(name: string): string {
  if (!IMAGE_NAME.test(name) || name.includes('..')) {
    throw new UserError(`invalid image name ${JSON.stringify(name)}: use ${IMAGE_NAME_RULE}`, 'Example: IMAGE=web-golden', 2);
  }
  return name;
}
