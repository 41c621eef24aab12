import type { Context } from '../context.js';
import { LOCAL_HOST } from './hosts.js';

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
