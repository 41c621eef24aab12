import { vagrantArgs } from '../adapters/vagrant.js';
import { Virsh, virshArgs } from '../adapters/virsh.js';
import { confirmOrRefuse } from '../confirm.js';
import type { Context } from '../context.js';
import { UserError } from '../errors.js';
import { removeIdleLabNetworks } from '../host/lab-networks.js';
import { preflight } from '../host/preflight.js';
import { machineContext } from '../lab/host-context.js';
import { removeMachineKey } from '../lab/machine-keys.js';
import { removeMachineSeed } from '../lab/cloud-init-seed.js';
import { removeSshConfig } from '../lab/ssh-config.js';
import { runVagrantStep } from '../lab/parallel.js';
import { domainPrefix, requireMachine } from '../lab/resolve-machines.js';
import type { LabFile } from '../lab/lab-file.js';
import { loadWorkspace, resolveMachines, syncVagrantfile, updateLab, type Workspace } from '../lab/workspace.js';
import { childrenOf, Registry } from '../images/registry.js';
import { cloneImageName } from './clone.js';
import { removeImageRecord } from './images.js';
import { deleteAllSnapshots } from './snapshot.js';

/**
 * Destroy a machine, then check with libvirt that nothing of it is left (domain, disk volumes)
 * before it is removed from lab.yaml. A machine whose remains cannot be removed stays declared,
 * so that it is never lost from sight.
 */
export async function deleteMachine(context: Context, name: string): Promise<void> {
  const workspace = await loadWorkspace(context);
  const spec = requireMachine(workspace.labFile.lab, name);
  await confirmOrRefuse(context, `Delete ${name} (role ${spec.role}) and its disk?`, { what: `deleting ${name}`, command: `make delete NAME=${name}` });
  context = machineContext(context, resolveMachines(workspace), name);
  await preflight(context);
  await syncVagrantfile(context);
  const domain = `${domainPrefix(workspace.labFile.lab)}${name}`;
  // libvirt refuses to undefine a domain that has internal snapshots (make snapshot).
  await deleteAllSnapshots(context, name, domain);
  await runVagrantStep(context, 'destroy', { name, domain, args: vagrantArgs.destroy(name) });

  if (!context.dryRun) await removeLeftovers(context, domain);
  await removeMachineKey(context, domain);
  await removeMachineSeed(context, domain);
  await removeSshConfig(context, domain);
  const remaining = await updateLab(context, (labFile) => (labFile.machine(name) ? labFile.withoutMachine(name) : labFile));
  if (!context.dryRun) await removeCloneImage(context, workspace, name, remaining);
  await removeIdleLabNetworks(context, remaining.lab);
  if (!context.dryRun) context.ui.info(`${name} deleted: no domain and no disk volume left`);
}

/** vagrant-libvirt names a machine's disks <domain>.img and <domain>-<disk>.qcow2. */
export function isVolumeOf(domain: string, volume: string): boolean {
  return volume === `${domain}.img` || volume.startsWith(`${domain}-`);
}

export async function removeLeftovers(context: Context, domain: string): Promise<void> {
  const virsh = new Virsh(context.runner, context.libvirtUri);
  if ((await virsh.domains()).some((row) => row.name === domain)) {
    throw new UserError(`vagrant destroy finished but libvirt still has the domain ${domain}`, `Inspect: virsh -c ${context.libvirtUri} dominfo ${domain}`);
  }
  for (const volume of await virsh.volumes(context.pool)) {
    if (!isVolumeOf(domain, volume.name)) continue;
    context.ui.info(`removing leftover volume ${volume.name}`);
    await virsh.change(virshArgs.volDelete(context.pool, volume.name));
  }
}

/** A clone's private image (clone-<name>, made by make clone) goes with it, unless something else uses it. */
async function removeCloneImage(context: Context, workspace: Workspace, name: string, remaining: LabFile): Promise<void> {
  const image = cloneImageName(name);
  const registry = new Registry(context.home);
  const index = await registry.read();
  const record = index.images[image];
  if (!record || record.kind !== 'custom' || !record.source.startsWith('clone of ')) return;
  const users = resolveMachines(workspace, remaining).filter((machine) => machine.image === image);
  if (users.length || childrenOf(index, image).length) {
    context.ui.info(`keeping image ${image}: ${[...users.map((machine) => `machine ${machine.name}`), ...childrenOf(index, image).map((child) => `image ${child}`)].join(', ')} still use it`);
    return;
  }
  await removeImageRecord(context, registry, record);
}
