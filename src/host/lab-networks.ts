import { parseNetBridge, Virsh, virshArgs } from '../adapters/virsh.js';
import type { Context } from '../context.js';
import { UserError } from '../errors.js';
import type { Lab } from '../lab/lab-schema.js';
import { labNetworks, networkPrefix, routeClashes, type PrivateNetwork } from '../lab/networks.js';
import { parseRoutes } from './routes.js';

/**
 * The lab's private networks against the host: a subnet that a host route already covers (a VPN, a
 * docker bridge, another lab) would make libvirt refuse the network, or worse, hide the route. Checked
 * before anything changes; the bridges of the lab's own networks are its own routes.
 */
export async function checkNetworksAgainstHost(context: Context, lab: Lab, networks: PrivateNetwork[] = labNetworks(lab).networks): Promise<void> {
  if (networks.length === 0) return;
  const routes = await context.runner.run('ip', ['-4', 'route', 'show'], { readOnly: true, check: false }).catch(() => undefined);
  if (!routes || routes.exitCode !== 0) {
    context.ui.warn('could not read the host routes (ip -4 route show): the lab networks are not checked against them');
    return;
  }
  const virsh = new Virsh(context.runner, context.libvirtUri);
  const existing = new Set(await virsh.networks());
  const bridges = new Set<string>();
  for (const network of networks.filter((candidate) => existing.has(candidate.libvirtName))) {
    const bridge = parseNetBridge((await virsh.query(virshArgs.netInfo(network.libvirtName), false)).stdout);
    if (bridge) bridges.add(bridge);
  }
  const clashes = routeClashes(networks, parseRoutes(routes.stdout), bridges);
  if (clashes.length === 0) return;
  throw new UserError(
    clashes.map(({ network, route }) => `network ${network.key} (${network.subnet}) clashes with the host route ${route.destination} on ${route.device}`).join('\n'),
    'Pick another subnet in lab.yaml (networks: or the machines\' ip:); see the host routes: ip -4 route',
    2,
  );
}

/**
 * Remove the lab's networks that no VM is attached to any more. vagrant-libvirt removes a network only
 * with the machine that created it, and only if nothing else is attached then: destroying a group in
 * parallel, or the creator first, would leave the network behind.
 */
export async function removeIdleLabNetworks(context: Context, lab: Lab): Promise<string[]> {
  if (context.dryRun) return [];
  const virsh = new Virsh(context.runner, context.libvirtUri);
  const removed: string[] = [];
  for (const name of (await virsh.networks()).filter((candidate) => candidate.startsWith(networkPrefix(lab.name)))) {
    const xml = await virsh.query(virshArgs.netDumpxml(name), false);
    if (xml.exitCode !== 0 || /<network[^>]*\sconnections=['"]\d+['"]/.test(xml.stdout)) continue;
    await virsh.tryChange(virshArgs.netDestroy(name));
    const undefine = await virsh.tryChange(virshArgs.netUndefine(name));
    if (undefine.exitCode === 0) removed.push(name);
  }
  if (removed.length) context.ui.info(`removed the lab's unused network${removed.length > 1 ? 's' : ''} ${removed.join(', ')}`);
  return removed;
}
