import { vagrantArgs, Vagrant } from '../adapters/vagrant.js';
import { Virsh, virshArgs } from '../adapters/virsh.js';
import { confirmOrRefuse } from '../confirm.js';
import type { Context } from '../context.js';
import { UserError } from '../errors.js';
import { preflight } from '../host/preflight.js';
import { domainPrefix, requireMachine } from '../lab/resolve-machines.js';
import { loadWorkspace, renderWorkspace, saveWorkspace } from '../lab/workspace.js';

/**
 * Destroy a machine, then check with libvirt that nothing of it is left (domain, disk volumes)
 * before it is removed from lab.yaml. A machine whose remains cannot be removed stays declared,
 * so that it is never lost from sight.
 */
export async function deleteMachine(context: Context, name: string): Promise<void> {
  const workspace = await loadWorkspace(context);
  const spec = requireMachine(workspace.labFile.lab, name);
  await confirmOrRefuse(context, `Delete ${name} (role ${spec.role}) and its disk?`, { what: `deleting ${name}`, command: `make delete NAME=${name}` });
  await preflight(context);
  await saveWorkspace(context, workspace.labFile, await renderWorkspace(context, workspace));
  await new Vagrant(context.runner, context.labDir).run(vagrantArgs.destroy(name), { interactive: true });

  const domain = `${domainPrefix(workspace.labFile.lab)}${name}`;
  if (!context.dryRun) await removeLeftovers(context, domain);
  const remaining = workspace.labFile.withoutMachine(name);
  await saveWorkspace(context, remaining, await renderWorkspace(context, workspace, remaining));
  if (!context.dryRun) context.ui.info(`${name} deleted: no domain and no disk volume left`);
}

/** vagrant-libvirt names a machine's disks <domain>.img and <domain>-<disk>.qcow2. */
export function isVolumeOf(domain: string, volume: string): boolean {
  return volume === `${domain}.img` || volume.startsWith(`${domain}-`);
}

async function removeLeftovers(context: Context, domain: string): Promise<void> {
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
