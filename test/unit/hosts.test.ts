import { describe, expect, it } from 'vitest';
import { labSchema } from '../../src/lab/lab-schema.js';
import { libvirtUriProblem, machineHost, uriHost } from '../../src/lab/hosts.js';
import { machinesByHost } from '../../src/lab/host-context.js';
import { remoteHostUnreachable, sshFailureFix } from '../../src/host/remote-hosts.js';
import { parseYaml } from '../../src/yaml-file.js';

const parse = (text: string) => () => parseYaml(text, labSchema, 'lab.yaml');
const BIG = 'hosts:\n  big: qemu+ssh://me@workstation/system\n';

describe('hosts: in lab.yaml', () => {
  it.each([
    ['qemu+ssh://me@workstation/system', true],
    ['qemu+ssh://root@127.0.0.1:2222/system?keyfile=/tmp/k&no_verify=1', true],
    ['qemu+tls://server.example/system', true],
    ['qemu:///session', true],
    ['ssh://me@workstation', false],
    ['workstation', false],
    ['xen+ssh://me@box/system', false],
    ['qemu+ssh://me@box/', false],
  ])('%s is a libvirt URI vmlab can use: %s', (uri, ok) => {
    expect(libvirtUriProblem(uri) === undefined).toBe(ok);
  });

  it('a machine is on its own host, else its group\'s, else local', () => {
    const { data } = parseYaml(`${BIG}groups:\n  k8s: {machines: [cp, w1], host: big}\nmachines:\n  cp: {role: base}\n  w1: {role: base}\n  db: {role: base, host: big}\n  laptop: {role: base}\n`, labSchema, 'lab.yaml');
    expect(['cp', 'w1', 'db', 'laptop'].map((name) => machineHost(data, name))).toEqual(['big', 'big', 'big', 'local']);
  });

  it.each([
    ['an unknown host on a machine, at its line', 'machines:\n  db: {role: base, host: bigg}\n', /lab\.yaml:4:\d+: machines\.db\.host: unknown host "bigg" \(declared hosts: local, big\)/],
    ['an unknown host on a group', 'groups:\n  k8s: {machines: [db], host: nowhere}\nmachines:\n  db: {role: base}\n', /groups\.k8s\.host: unknown host "nowhere"/],
    ['a URI that is not a libvirt one', 'machines: {}\n', /hosts\.bad: "ssh:\/\/me@box" is not a QEMU libvirt URI/, 'hosts:\n  bad: ssh://me@box\n'],
    ['a host called local', 'machines: {}\n', /hosts\.local: "local" is this machine/, 'hosts:\n  local: qemu+ssh://me@box/system\n'],
    ['a group member of a group on another host', 'groups:\n  k8s: {machines: [db], host: big}\nmachines:\n  db: {role: base, host: local}\n', /machines\.db: db is put on hosts local and big/],
    [
      'one private network across hosts',
      'machines:\n  a: {role: base, ip: 10.20.0.11/24}\n  b: {role: base, ip: 10.20.0.12/24, host: big}\n',
      /machines\.b\.host: network net-10-20-0-0-24 \(10\.20\.0\.0\/24\) would span hosts \(a on local; b on big\): a lab network does not span hosts/,
    ],
    ['a group entry naming an unknown machine', 'groups:\n  k8s: {machines: [ghost], host: big}\nmachines: {}\n', /groups\.k8s\.machines\.0: no machine named "ghost"/],
  ])('refused: %s', (_what, text, message, hosts = BIG) => {
    expect(parse(`${hosts}${text}`)).toThrowError(message);
  });

  it('machines of one network on one remote host are fine', () => {
    expect(parse(`${BIG}machines:\n  a: {role: base, ip: 10.20.0.11/24, host: big}\n  b: {role: base, ip: 10.20.0.12/24, host: big}\n`)).not.toThrow();
  });

  it('machines go host by host, local first', () => {
    const order = machinesByHost([{ name: 'a', host: 'big' }, { name: 'b', host: 'local' }, { name: 'c', host: 'big' }]);
    expect([...order].map(([host, members]) => [host, members.map((machine) => machine.name)])).toEqual([['local', ['b']], ['big', ['a', 'c']]]);
  });
});

describe('an unreachable host', () => {
  const uri = 'qemu+ssh://me@workstation:2222/system';
  it('names the URI, the SSH failure and the fix', () => {
    const error = remoteHostUnreachable('big', uri, 'error: failed to connect to the hypervisor\nerror: Cannot recv data: ssh: connect to host workstation port 2222: Connection refused: Connection reset by peer\n');
    expect(error.message).toBe(`host big is not reachable at ${uri}: Cannot recv data: ssh: connect to host workstation port 2222: Connection refused: Connection reset by peer. Nothing was changed.`);
    expect(error.hint).toContain('ssh -p 2222 me@workstation virsh -c qemu:///system version');
  });
  it.each([
    ['Host key verification failed.', /Accept the host's key once: ssh -p 2222 me@workstation true/],
    ['me@workstation: Permission denied (publickey).', /ssh-copy-id -p 2222 me@workstation/],
    ["Failed to connect socket to '/var/run/libvirt/libvirt-sock': Permission denied", /sudo adduser me libvirt/],
  ])('%s: %s', (stderr, fix) => {
    expect(sshFailureFix(uri, stderr)).toMatch(fix);
  });
  it('the host part of a URI', () => {
    expect(uriHost('qemu+ssh://root@127.0.0.1:2299/system?keyfile=/k')).toBe('root@127.0.0.1:2299');
  });
});
