import { describe, expect, it } from 'vitest';
import { freeSubnet, labNetworks, routeClashes } from '../../src/lab/networks.js';
import { parseYaml } from '../../src/yaml-file.js';
import { labSchema } from '../../src/lab/lab-schema.js';
import { ConfigError } from '../../src/errors.js';

const lab = (machines: Record<string, { ip?: string; network?: string }>, networks: Record<string, string> = {}) => ({ name: 'lab', networks, machines });
const messages = (input: ReturnType<typeof lab>) => labNetworks(input).issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`);

describe('lab networks and static addresses', () => {
  it('a CIDR address makes a network named after its subnet; a named network is used by name', () => {
    const result = labNetworks(lab({ a: { ip: '10.20.0.11/24' }, b: { ip: '10.20.0.12/24' }, c: { ip: '10.30.1.5', network: 'back' } }, { back: '10.30.1.0/24' }));
    expect(result.issues).toEqual([]);
    expect(result.addresses.map((entry) => [entry.machine, entry.address, entry.network.libvirtName])).toEqual([
      ['a', '10.20.0.11', 'vmlab-lab-net-10-20-0-0-24'],
      ['b', '10.20.0.12', 'vmlab-lab-net-10-20-0-0-24'],
      ['c', '10.30.1.5', 'vmlab-lab-back'],
    ]);
    expect(result.addresses[0]!.network).toMatchObject({ subnet: '10.20.0.0/24', hostAddress: '10.20.0.1', netmask: '255.255.255.0' });
  });

  it('a CIDR address inside a named network joins that network', () => {
    const result = labNetworks(lab({ a: { ip: '10.30.1.7/24' } }, { back: '10.30.1.0/24' }));
    expect(result.addresses[0]!.network.key).toBe('back');
    expect(result.networks).toHaveLength(1);
  });

  it.each([
    [{ a: { ip: '10.40.0.5', network: 'back' } }, /machines\.a\.ip: 10\.40\.0\.5 is outside network back \(10\.30\.1\.0\/24\)/],
    [{ a: { ip: '10.30.1.5/16', network: 'back' } }, /another prefix than network back/],
    [{ a: { ip: '10.30.1.5', network: 'front' } }, /machines\.a\.network: no network named "front" \(networks: back\)/],
    [{ a: { ip: '10.30.1.1', network: 'back' } }, /10\.30\.1\.1 is the host's own address/],
    [{ a: { ip: '10.30.1.0', network: 'back' } }, /is the network address/],
    [{ a: { ip: '10.30.1.255', network: 'back' } }, /is the broadcast address/],
    [{ a: { ip: '10.30.1.5', network: 'back' }, b: { ip: '10.30.1.5/24' } }, /machines\.b\.ip: 10\.30\.1\.5 is already the address of a/],
    [{ a: { ip: '10.30.1.5' } }, /needs a prefix length/],
    [{ a: { network: 'back' } }, /network: needs an ip:/],
    [{ a: { ip: '192.168.123.10/24' } }, /overlaps vmlab's management network/],
    [{ a: { ip: '10.30.0.9/16' } }, /10\.30\.0\.0\/16 overlaps network back/],
    [{ a: { ip: '10.30.0.9/31' } }, /prefix between \/8 and \/30/],
  ])('refuses %j', (machines, message) => {
    expect(messages(lab(machines, { back: '10.30.1.0/24' })).join('\n')).toMatch(message);
  });

  it('refuses a network given by a host address instead of its subnet address', () => {
    expect(messages(lab({}, { back: '10.30.1.7/24' })).join('\n')).toMatch(/networks\.back: 10\.30\.1\.7\/24 is not a subnet address; did you mean 10\.30\.1\.0\/24\?/);
  });

  it('lab.yaml reports network problems with their line and column', () => {
    const text = 'name: lab\nnetworks:\n  back: 10.30.1.0/24\nmachines:\n  a:\n    role: base\n    network: back\n    ip: 10.99.0.5\n';
    let error: unknown;
    try {
      parseYaml(text, labSchema, 'lab.yaml');
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).message).toBe('lab.yaml:8:9: machines.a.ip: 10.99.0.5 is outside network back (10.30.1.0/24)');
  });

  it('a host route over a lab subnet clashes, unless it is on one of the lab\'s own bridges', () => {
    const { networks } = labNetworks(lab({ a: { ip: '10.20.0.11/24' } }));
    const routes = [
      { destination: '10.20.0.0/24', device: 'virbr3' },
      { destination: '10.0.0.0/8', device: 'tun0' },
    ];
    expect(routeClashes(networks, routes, new Set(['virbr3'])).map((clash) => clash.route.device)).toEqual(['tun0']);
    expect(routeClashes(networks, routes.slice(0, 1), new Set(['virbr3']))).toEqual([]);
    expect(routeClashes(networks, routes.slice(0, 1), new Set())).toHaveLength(1);
  });

  it('a free subnet for a new group skips every taken range', () => {
    expect(freeSubnet([])).toBe('10.20.0.0/24');
    expect(freeSubnet(['10.20.0.0/24', '10.21.0.0/16'])).toBe('10.22.0.0/24');
    expect(freeSubnet(['10.0.0.0/8'])).toBeUndefined();
  });
});

describe('groups in lab.yaml', () => {
  const parse = (text: string) => () => parseYaml(text, labSchema, 'lab.yaml');
  it('a group naming an unknown machine is refused at its line', () => {
    expect(parse('machines:\n  a:\n    role: base\ngroups:\n  web: [a, ghost]\n')).toThrowError(/lab\.yaml:5:\d+: groups\.web\.1: no machine named "ghost"/);
  });
  it('a group may not share a machine\'s name', () => {
    expect(parse('machines:\n  a:\n    role: base\n    group: a\n')).toThrowError(/machines\.a\.group: "a" is a machine's name/);
  });
  it('a secret listed twice, or in lower case, is refused', () => {
    expect(parse('machines:\n  a:\n    role: base\n    secrets: [TOKEN, TOKEN]\n')).toThrowError(/TOKEN listed twice/);
    expect(parse('machines:\n  a:\n    role: base\n    secrets: [token]\n')).toThrowError(/UPPERCASE_WITH_UNDERSCORES/);
  });
});
