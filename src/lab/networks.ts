import { formatIpv4, ipv4ToNumber, netmask, overlaps, parseCidr, subnetBounds } from '../host/routes.js';
import { MANAGEMENT_NETWORK } from '../vagrantfile/vagrantfile-view.js';

/**
 * The lab's private networks and each machine's static address, from lab.yaml. Pure: the rules here
 * need nothing but the file; the clash with the host's routes is checked where the routes are read.
 *
 * A machine says `ip: 10.20.0.11/24` (its network is the subnet, named after it) or `ip: 10.20.0.11`
 * with `network: backend`, one of the lab's `networks:`. vagrant-libvirt gives the host the first
 * address of each network (.1): no machine may take it, nor the network or broadcast address.
 */
export interface PrivateNetwork {
  /** The name in lab.yaml, or net-<subnet> for a subnet no network names. */
  key: string;
  /** vmlab-<lab>-<key>: cleanup finds the lab's networks by this prefix. */
  libvirtName: string;
  subnet: string;
  hostAddress: string;
  netmask: string;
}

export interface MachineAddress {
  machine: string;
  address: string;
  network: PrivateNetwork;
}

export interface NetworkIssue {
  path: (string | number)[];
  message: string;
}

interface LabNetworkInput {
  name: string;
  networks: Record<string, string>;
  machines: Record<string, { ip?: string; network?: string }>;
}

export function networkPrefix(labName: string): string {
  return `vmlab-${labName}-`;
}

function subnetOf(address: string, bits: number): string {
  const parsed = parseCidr(`${address}/${bits}`)!;
  return `${formatIpv4(parsed.base)}/${bits}`;
}

function makeNetwork(labName: string, key: string, subnet: string): PrivateNetwork {
  const parsed = parseCidr(subnet)!;
  return {
    key,
    libvirtName: `${networkPrefix(labName)}${key}`,
    subnet: `${formatIpv4(parsed.base)}/${parsed.bits}`,
    hostAddress: formatIpv4(parsed.base + 1),
    netmask: netmask(parsed.bits),
  };
}

export function labNetworks(lab: LabNetworkInput): { networks: PrivateNetwork[]; addresses: MachineAddress[]; issues: NetworkIssue[] } {
  const issues: NetworkIssue[] = [];
  const named = new Map(Object.entries(lab.networks).map(([key, subnet]) => [key, makeNetwork(lab.name, key, subnet)]));
  for (const [key, subnet] of Object.entries(lab.networks)) {
    const parsed = parseCidr(subnet)!;
    if (parsed.bits > 30 || parsed.bits < 8) issues.push({ path: ['networks', key], message: `a lab network needs a prefix between /8 and /30, got /${parsed.bits}` });
    else if (formatIpv4(parsed.base) !== subnet.split('/')[0]) issues.push({ path: ['networks', key], message: `${subnet} is not a subnet address; did you mean ${formatIpv4(parsed.base)}/${parsed.bits}?` });
  }
  const implicit = new Map<string, PrivateNetwork>();
  const addresses: MachineAddress[] = [];
  for (const [machine, spec] of Object.entries(lab.machines)) {
    const at = ['machines', machine];
    if (spec.network && !spec.ip) {
      issues.push({ path: [...at, 'network'], message: 'network: needs an ip: for the machine on it' });
      continue;
    }
    if (!spec.ip) continue;
    const [address = '', prefix] = spec.ip.split('/');
    let network: PrivateNetwork | undefined;
    if (spec.network) {
      network = named.get(spec.network);
      if (!network) {
        const known = [...named.keys()];
        issues.push({ path: [...at, 'network'], message: `no network named "${spec.network}"${known.length ? ` (networks: ${known.join(', ')})` : ' (declare it under networks:)'}` });
        continue;
      }
      if (prefix !== undefined && `/${prefix}` !== `/${network.subnet.split('/')[1]}`) {
        issues.push({ path: [...at, 'ip'], message: `${spec.ip} has another prefix than network ${network.key} (${network.subnet})` });
        continue;
      }
    } else if (prefix === undefined) {
      issues.push({ path: [...at, 'ip'], message: `${spec.ip} needs a prefix length (10.20.0.11/24) or a network: naming one of the networks:` });
      continue;
    } else {
      const subnet = subnetOf(address, Number(prefix));
      network = [...named.values()].find((candidate) => candidate.subnet === subnet);
      if (!network) {
        const key = `net-${subnet.replace(/[./]/g, '-')}`;
        network = implicit.get(key) ?? makeNetwork(lab.name, key, subnet);
        implicit.set(key, network);
        const bits = Number(prefix);
        if (bits > 30 || bits < 8) {
          issues.push({ path: [...at, 'ip'], message: `a lab network needs a prefix between /8 and /30, got /${bits}` });
          continue;
        }
      }
    }
    const value = ipv4ToNumber(address)!;
    const bounds = subnetBounds(network.subnet)!;
    if (value < bounds.first || value > bounds.last) {
      issues.push({ path: [...at, 'ip'], message: `${address} is outside network ${network.key} (${network.subnet})` });
      continue;
    }
    if (value === bounds.first || value === bounds.last) {
      issues.push({ path: [...at, 'ip'], message: `${address} is the ${value === bounds.first ? 'network' : 'broadcast'} address of ${network.subnet}` });
      continue;
    }
    if (address === network.hostAddress) {
      issues.push({ path: [...at, 'ip'], message: `${address} is the host's own address on ${network.subnet}; use .2 or above` });
      continue;
    }
    const taken = addresses.find((other) => other.address === address);
    if (taken) {
      issues.push({ path: [...at, 'ip'], message: `${address} is already the address of ${taken.machine}` });
      continue;
    }
    addresses.push({ machine, address, network });
  }
  const networks = [...new Map([...named.values(), ...implicit.values()].map((network) => [network.libvirtName, network])).values()];
  for (const [index, network] of networks.entries()) {
    const where = lab.networks[network.key] ? ['networks', network.key] : ['machines', addresses.find((entry) => entry.network === network)?.machine ?? '', 'ip'];
    if (overlaps(network.subnet, MANAGEMENT_NETWORK.address)) {
      issues.push({ path: where, message: `${network.subnet} overlaps vmlab's management network ${MANAGEMENT_NETWORK.address}` });
    }
    const clash = networks.slice(0, index).find((other) => overlaps(other.subnet, network.subnet));
    if (clash) issues.push({ path: where, message: `${network.subnet} overlaps network ${clash.key} (${clash.subnet})` });
  }
  return { networks, addresses, issues };
}

/** The networks the machines use, in use order (what the Vagrantfile and cleanup need). */
export function usedNetworks(addresses: MachineAddress[]): PrivateNetwork[] {
  return [...new Map(addresses.map((entry) => [entry.network.libvirtName, entry.network])).values()];
}

/** Host routes that clash with a lab network; routes on the lab's own bridges are its own. */
export function routeClashes(
  networks: PrivateNetwork[],
  routes: { destination: string; device: string }[],
  ownBridges: ReadonlySet<string>,
): { network: PrivateNetwork; route: { destination: string; device: string } }[] {
  const clashes = [];
  for (const network of networks) {
    const route = routes.find((candidate) => !ownBridges.has(candidate.device) && overlaps(candidate.destination, network.subnet));
    if (route) clashes.push({ network, route });
  }
  return clashes;
}

/** A free /24 for a new group network: the first 10.<n>.0.0/24 (n from 20) that clashes with nothing. */
export function freeSubnet(taken: string[]): string | undefined {
  for (let n = 20; n < 255; n++) {
    const candidate = `10.${n}.0.0/24`;
    if (!taken.some((subnet) => overlaps(subnet, candidate))) return candidate;
  }
  return undefined;
}
