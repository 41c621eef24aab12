import { Virsh } from '../adapters/virsh.js';
import type { Context } from '../context.js';
import { UserError } from '../errors.js';
import { admit } from '../host/admission.js';
import { exportMachine, refuseRemoteDisk } from '../images/export-vm.js';
import { DryRunStop } from '../images/run-builder.js';
import { domainPrefix, requireMachine } from '../lab/resolve-machines.js';
import { loadWorkspace, resolveMachines } from '../lab/workspace.js';
import { checkMachineName } from '../names.js';
import { createMachine } from './create.js';

/** The private image a clone boots from: the source's disk when it was cloned. */
export function cloneImageName(target: string): string {
  return `clone-${target}`;
}

/**
 * make clone SOURCE=web TARGET=web2: a new VM from the source's current disk, with the same role and sizes
 * and its own identity. The disk becomes the image clone-<target> (exported without the machine's identity,
 * uncompressed for speed); the clone boots from it, so it gets a new MAC, and generates a new machine-id
 * and SSH host keys at first boot; Vagrant gives it its own hostname. `make delete NAME=web2` removes the
 * private image again.
 */
export async function cloneMachine(context: Context, source: string | undefined, target: string | undefined, options: { force?: boolean } = {}): Promise<void> {
  if (!source || !target) throw new UserError('clone needs SOURCE (an existing machine) and TARGET (the new one)', 'Example: make clone SOURCE=web TARGET=web2', 2);
  checkMachineName(source);
  checkMachineName(target);
  const workspace = await loadWorkspace(context);
  requireMachine(workspace.labFile.lab, source);
  const placed = resolveMachines(workspace).find((candidate) => candidate.name === source);
  if (placed) refuseRemoteDisk(placed, 'clone');
  if (workspace.labFile.machine(target)) {
    throw new UserError(`a machine named "${target}" already exists`, `Pick another TARGET, or remove it first: make delete NAME=${target} YES=1`);
  }
  const domain = `${domainPrefix(workspace.labFile.lab)}${target}`;
  if (!context.dryRun && (await new Virsh(context.runner, context.libvirtUri).domains()).some((row) => row.name === domain)) {
    throw new UserError(`libvirt already has a domain ${domain}, though lab.yaml has no ${target}`, `Inspect it: virsh -c ${context.libvirtUri} dominfo ${domain}; or pick another TARGET`);
  }
  const image = cloneImageName(target);
  const users = resolveMachines(workspace).filter((machine) => machine.image === image);
  if (users.length) throw new UserError(`image ${image} is still used by ${users.map((machine) => machine.name).join(', ')}`, 'Pick another TARGET');
  const machine = resolveMachines(workspace).find((candidate) => candidate.name === source);
  if (!machine) throw new UserError(`no machine named "${source}" in lab.yaml`, 'See: make list');
  // The host must have room for the clone before its disk is copied.
  const retry = `make clone SOURCE=${source} TARGET=${target}`;
  const claim = { who: target, domain, state: 'to create', vcpus: machine.cpus, memoryMiB: machine.memory, diskBytes: machine.disk * 2 ** 30 };
  await admit(context, [claim], workspace.labFile.lab.admission, { force: options.force === true, retry });

  try {
    await exportMachine(context, {
      machine: source,
      target: image,
      force: true,
      compress: false,
      source: `clone of ${source} for ${target}`,
      retry,
    });
  } catch (error) {
    if (error instanceof DryRunStop) return;
    throw error;
  }
  await createMachine(context, { role: machine.role, name: target, image, cpus: machine.cpus, memory: machine.memory, disk: machine.disk, autoBuild: false, force: options.force });
}
