import type { Context } from '../context.js';
import { checkLibvirt } from '../host/preflight.js';
import type { LiveDomain } from './converge.js';
import { LOCAL_HOST } from './hosts.js';
import { readLiveDomains } from './live.js';

/**
 * The context for a machine's host: the same lab, the same registry, but that host's libvirt. Every
 * command that reads or changes a machine in libvirt (virsh) runs with its host's context; vagrant reaches
 * the host through the Vagrantfile's libvirt.uri.
 */
export function hostContext(context: Context, machine: { host: string; hostUri: string | null }): Context {
  if (!machine.hostUri || machine.host === LOCAL_HOST) return context;
  if (context.host === machine.host) return context;
  return { ...context, libvirtUri: machine.hostUri, host: machine.host };
}

/** Machines by host, in the order their hosts first appear: local first when it has any. */
export function machinesByHost<M extends { host: string }>(machines: M[]): Map<string, M[]> {
  const hosts = new Map<string, M[]>();
  for (const machine of [...machines].sort((a, b) => Number(b.host === LOCAL_HOST) - Number(a.host === LOCAL_HOST))) {
    hosts.set(machine.host, [...(hosts.get(machine.host) ?? []), machine]);
  }
  return hosts;
}

/** The context of one declared machine's host (the machine must exist in lab.yaml). */
export function machineContext(context: Context, machines: { name: string; host: string; hostUri: string | null }[], name: string): Context {
  const machine = machines.find((candidate) => candidate.name === name);
  return machine ? hostContext(context, machine) : context;
}

/**
 * What libvirt has now on every host the machines are on (readLiveDomains per host, merged): domain names
 * carry the lab's name, so domains of one lab never collide across hosts. A remote host that does not
 * answer is refused with its URI, the SSH failure and the fix. Without machines: this host's.
 */
export async function readLiveOnHosts(
  context: Context,
  machines: { name: string; domain: string; host: string; hostUri: string | null }[],
  detailed: string[] = [],
): Promise<Map<string, LiveDomain>> {
  const byHost = machinesByHost(machines);
  if (byHost.size === 0) return readLiveDomains(context, detailed);
  const live = new Map<string, LiveDomain>();
  for (const members of byHost.values()) {
    const hostCtx = hostContext(context, members[0]!);
    if (hostCtx.host && !context.dryRun) await checkLibvirt(hostCtx);
    const domains = new Set(members.map((machine) => machine.domain));
    for (const [domain, state] of await readLiveDomains(hostCtx, detailed.filter((name) => domains.has(name)))) live.set(domain, state);
  }
  return live;
}
