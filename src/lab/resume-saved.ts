import { setTimeout as sleep } from 'node:timers/promises';
import { parseDomifaddr, parseInterfaces, Virsh, virshArgs } from '../adapters/virsh.js';
import type { Context } from '../context.js';
import { UserError } from '../errors.js';
import { MANAGEMENT_NETWORK } from '../vagrantfile/vagrantfile-view.js';
import { startInactiveNetworks } from './network-restart.js';
import type { ResolvedMachine } from './resolve-machines.js';

/**
 * A saved machine (libvirt managed save) is restored by vmlab itself before vagrant sees it, because a
 * restored guest keeps the DHCP lease it had: when its network was restarted meanwhile (a host reboot, or
 * `virsh net-destroy`), dnsmasq no longer knows that lease, vagrant-libvirt finds no address and gives up
 * ("inaccessible") long before the guest renews it. So: its networks are started if they are down, the
 * domain is started (libvirt restores it from the save), and if libvirt has no lease for it, its link on
 * the management network goes down and up, which makes the guest's DHCP client ask again. vagrant up then
 * finds a running machine, and the port tunnels are made by vmlab (port-forwards.ts).
 */
export async function restoreSavedMachines(context: Context, machines: ResolvedMachine[]): Promise<void> {
  const virsh = new Virsh(context.runner, context.libvirtUri);
  for (const machine of machines) {
    const interfaces = parseInterfaces((await virsh.query(virshArgs.domiflist(machine.domain), false)).stdout);
    await startInactiveNetworks(context, interfaces.map((entry) => entry.network));
    const started = await virsh.tryChange(virshArgs.start(machine.domain));
    if (started.exitCode !== 0) {
      throw new UserError(`${machine.name} could not be restored from its saved state: ${started.stderr.trim().split('\n')[0] ?? `virsh exited with ${started.exitCode}`}`, `Start it afresh (the saved memory is dropped): virsh -c ${context.libvirtUri} managedsave-remove ${machine.domain}; then: make start NAME=${machine.name}`);
    }
    if (context.dryRun) continue;
    context.ui.info(`${machine.name}: restored from its saved state`);
    const management = interfaces.find((entry) => entry.network === MANAGEMENT_NETWORK.name);
    if (!management || (await address(virsh, machine.domain))) continue;
    context.ui.info(`${machine.name}: its network lost the lease meanwhile: asking the guest to renew it`);
    await virsh.tryChange(virshArgs.domifSetlink(machine.domain, management.mac, 'down'));
    await sleep(2000);
    await virsh.tryChange(virshArgs.domifSetlink(machine.domain, management.mac, 'up'));
    for (let attempt = 0; attempt < 60 && !(await address(virsh, machine.domain)); attempt++) await sleep(1000);
  }
}

async function address(virsh: Virsh, domain: string): Promise<string | undefined> {
  return parseDomifaddr((await virsh.query(virshArgs.domifaddr(domain), false)).stdout);
}
