import { labNetworks, type NetworkIssue } from './networks.js';

/**
 * Where a lab's machines run: `hosts:` in lab.yaml names libvirt hosts by URI; a machine's `host:` (or
 * its group's) puts it there. "local" is always this machine (VMLAB_LIBVIRT_URI, qemu:///system). Pure:
 * the rules here need nothing but the file; whether a host answers is checked where it is reached.
 */
export const LOCAL_HOST = 'local';
export const HOST_NAME = /^[a-z][a-z0-9-]{0,15}$/;
export const HOST_NAME_RULE = 'lowercase letters, digits and hyphens, at most 16';

/**
 * A libvirt URI vagrant-libvirt can drive: the qemu driver, an optional transport, a /system or /session
 * path (https://libvirt.org/uri.html). qemu+ssh://me@workstation/system, qemu+tls://server/system, ...
 */
const LIBVIRT_URI = /^qemu(\+(ssh|libssh|libssh2|tcp|tls|unix|ext))?:\/\/([^/?#\s]*)\/(system|session)(\?[^\s#]*)?$/;

export function libvirtUriProblem(uri: string): string | undefined {
  if (LIBVIRT_URI.test(uri)) return undefined;
  if (!/^[a-z0-9+]+:\/\//.test(uri)) return `"${uri}" is not a libvirt URI; write it as qemu+ssh://user@host/system`;
  if (!uri.startsWith('qemu')) return `"${uri}" is not a QEMU libvirt URI (vagrant-libvirt drives QEMU/KVM only); write it as qemu+ssh://user@host/system`;
  return `"${uri}" is not a libvirt URI vmlab can use: qemu[+ssh|+tls|+tcp]://[user@]host[:port]/system[?options]`;
}

/** The remote part of a URI for people: qemu+ssh://me@box:2222/system?keyfile=.. -> me@box:2222 */
export function uriHost(uri: string): string {
  return /^[^:]+:\/\/([^/?]*)/.exec(uri)?.[1] || 'localhost';
}

/** libvirt's no_verify=1: the SSH host key is not checked; vmlab's SSH through that host follows suit. */
export function uriSkipsHostKeyCheck(uri: string): boolean {
  return /[?&]no_verify=1(&|$)/.test(uri);
}

export type GroupEntry = string[] | { machines: string[]; host?: string | undefined };

export function groupMembers(entry: GroupEntry): string[] {
  return Array.isArray(entry) ? entry : entry.machines;
}

interface LabHostsInput {
  name: string;
  hosts: Record<string, string>;
  networks: Record<string, string>;
  groups: Record<string, GroupEntry>;
  machines: Record<string, { host?: string | undefined; group?: string | undefined; ip?: string | undefined; network?: string | undefined }>;
}

/** The host a machine is declared on: its own host:, else a group's, else local. */
export function machineHost(lab: Pick<LabHostsInput, 'groups' | 'machines'>, name: string): string {
  const own = lab.machines[name]?.host;
  if (own) return own;
  for (const [group, entry] of Object.entries(lab.groups)) {
    if (Array.isArray(entry) || !entry.host) continue;
    if (entry.machines.includes(name) || lab.machines[name]?.group === group) return entry.host;
  }
  return LOCAL_HOST;
}

/** The URI of a host by name; undefined for local (the context's own URI applies). */
export function hostUri(lab: Pick<LabHostsInput, 'hosts'>, host: string): string | undefined {
  return host === LOCAL_HOST ? undefined : lab.hosts[host];
}

/**
 * What is wrong with the lab's hosts, at the field that breaks the rule: a host name that is not
 * declared, a URI that is not a libvirt one, a machine that two places put on different hosts, and one
 * private network whose machines stand on different hosts (a libvirt network lives on one host).
 */
export function hostIssues(lab: LabHostsInput): NetworkIssue[] {
  const issues: NetworkIssue[] = [];
  const known = (host: string) => host === LOCAL_HOST || host in lab.hosts;
  const declared = `declared hosts: ${[LOCAL_HOST, ...Object.keys(lab.hosts)].join(', ')}`;
  for (const [name, uri] of Object.entries(lab.hosts)) {
    if (name === LOCAL_HOST) issues.push({ path: ['hosts', name], message: `"${LOCAL_HOST}" is this machine (qemu:///system); give the remote host another name` });
    const problem = libvirtUriProblem(uri);
    if (problem) issues.push({ path: ['hosts', name], message: problem });
  }
  for (const [group, entry] of Object.entries(lab.groups)) {
    if (!Array.isArray(entry) && entry.host && !known(entry.host)) {
      issues.push({ path: ['groups', group, 'host'], message: `unknown host "${entry.host}" (${declared}); declare it under hosts: as name: qemu+ssh://user@host/system` });
    }
  }
  const placed = new Map<string, string>();
  for (const [name, machine] of Object.entries(lab.machines)) {
    if (machine.host && !known(machine.host)) {
      issues.push({ path: ['machines', name, 'host'], message: `unknown host "${machine.host}" (${declared}); declare it under hosts: as name: qemu+ssh://user@host/system` });
      continue;
    }
    const hosts = new Set<string>(machine.host ? [machine.host] : []);
    for (const [group, entry] of Object.entries(lab.groups)) {
      if (Array.isArray(entry) || !entry.host || !known(entry.host)) continue;
      if (entry.machines.includes(name) || machine.group === group) hosts.add(entry.host);
    }
    if (hosts.size > 1) {
      issues.push({ path: ['machines', name], message: `${name} is put on hosts ${[...hosts].join(' and ')} (its host: and its groups'); a machine runs on one host: make them agree` });
    }
    placed.set(name, machineHost(lab, name));
  }
  const byNetwork = new Map<string, { subnet: string; hosts: Map<string, string[]> }>();
  for (const address of labNetworks(lab).addresses) {
    const entry = byNetwork.get(address.network.key) ?? { subnet: address.network.subnet, hosts: new Map<string, string[]>() };
    const host = placed.get(address.machine) ?? LOCAL_HOST;
    entry.hosts.set(host, [...(entry.hosts.get(host) ?? []), address.machine]);
    byNetwork.set(address.network.key, entry);
  }
  for (const [key, entry] of byNetwork) {
    if (entry.hosts.size < 2) continue;
    const where = [...entry.hosts].map(([host, machines]) => `${machines.join(', ')} on ${host}`).join('; ');
    const first = [...entry.hosts.values()][1]![0]!;
    issues.push({
      path: ['machines', first, lab.machines[first]?.host ? 'host' : 'ip'],
      message: `network ${key} (${entry.subnet}) would span hosts (${where}): a lab network does not span hosts, its machines must share one; put them on one host or on networks of their own`,
    });
  }
  return issues;
}
