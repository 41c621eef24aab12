import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { ResolvedMachine } from '../../src/lab/resolve-machines.js';
import { loadTemplate, renderVagrantfile, rubyString } from '../../src/vagrantfile/render-vagrantfile.js';
import { buildVagrantfileView } from '../../src/vagrantfile/vagrantfile-view.js';
import { REPO } from '../support/fakes.js';

const machine = (overrides: Partial<ResolvedMachine>): ResolvedMachine => ({
  name: 'web',
  role: 'docker',
  image: 'docker',
  box: 'vmlab/docker',
  domainPrefix: 'vmlab-lab-',
  domain: 'vmlab-lab-web',
  cpus: 2,
  memory: 2048,
  disk: 20,
  settings: {},
  provision: [],
  groups: [],
  scripts: [],
  secrets: [],
  hosts: [],
  host: 'local',
  hostUri: null,
  ports: [],
  ...overrides,
});

const backend = { key: 'backend', libvirtName: 'vmlab-lab-backend', subnet: '10.20.0.0/24', hostAddress: '10.20.0.1', netmask: '255.255.255.0' };

const ownKey = new Map([['vmlab-lab-web', { privateKey: '/home/u/.vmlab/keys/vmlab-lab-web', publicKey: 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA vmlab-lab-web' }]]);

const cases: { name: string; driver: 'kvm' | 'qemu'; machines: ResolvedMachine[]; keys?: typeof ownKey; boxVersions?: Map<string, string> }[] = [
  { name: 'empty-lab', driver: 'qemu', machines: [] },
  { name: 'one-docker-kvm', driver: 'kvm', machines: [machine({})] },
  // One Vagrantfile for machines on several hosts: each remote machine names its libvirt URI.
  {
    name: 'machine-on-a-remote-host',
    driver: 'qemu',
    machines: [machine({}), machine({ name: 'db', domain: 'vmlab-lab-db', host: 'far', hostUri: 'qemu+ssh://me@workstation:2222/system?keyfile=/home/me/.ssh/lab' })],
  },
  { name: 'own-key-and-smbios-identity', driver: 'qemu', machines: [machine({})], keys: ownKey, boxVersions: new Map([['docker', '0.20261202140434.1335986743']]) },
  {
    name: 'two-machines-qemu-provisioned',
    driver: 'qemu',
    machines: [
      machine({}),
      machine({
        name: 'dev',
        role: 'base',
        image: 'debian-12',
        box: 'vmlab/debian-12',
        domain: 'vmlab-lab-dev',
        cpus: 1,
        memory: 1024,
        disk: 10,
        settings: { kubernetes_version: "v1.31 it's", apt_proxy: '#{`id`}' },
        provision: [
          { name: 'essentials', script: '/opt/vmlab/scripts/features/essentials.sh' },
          { name: 'time-sync', script: '/opt/vmlab/scripts/features/time-sync.sh' },
        ],
      }),
    ],
  },
  {
    name: 'group-with-network-and-secrets',
    driver: 'qemu',
    machines: ['db', 'app'].map((name, index) =>
      machine({
        name,
        role: 'base',
        image: 'debian-12',
        box: 'vmlab/debian-12',
        domain: `vmlab-lab-${name}`,
        groups: ['tier'],
        address: { machine: name, address: `10.20.0.${11 + index}`, network: backend },
        hosts: ['10.20.0.11 db', '10.20.0.12 app'],
        scripts: name === 'db' ? ['/opt/vmlab/provision/db-setup.sh'] : [],
        secrets: name === 'db' ? ['DB_PASSWORD'] : [],
      }),
    ),
  },
];

let REPO_TEMPLATE = '';

/** Golden files: set UPDATE_GOLDEN=1 to rewrite them after an intended change, then review the diff. */
describe('Vagrantfile rendering (golden files)', () => {
  it.each(cases)('$name', async ({ name, driver, machines, keys, boxVersions }) => {
    const view = buildVagrantfileView(machines, { labFile: 'lab.yaml', driver, labDir: '/opt/vmlab', projectRoot: '/opt/vmlab', keys, boxVersions });
    const text = renderVagrantfile(await loadTemplate(REPO), view);
    const golden = path.join(REPO, 'test/golden', `${name}.Vagrantfile`);
    if (process.env.UPDATE_GOLDEN) await writeFile(golden, text);
    expect(text).toBe(await readFile(golden, 'utf8'));
  });

  it('puts the box volume and the disks in the pool vmlab reads (VMLAB_POOL)', async () => {
    const machines = cases[1]!.machines;
    const text = renderVagrantfile(await loadTemplate(REPO), buildVagrantfileView(machines, { labFile: 'lab.yaml', driver: 'kvm', pool: 'fast-ssd', labDir: '/x', projectRoot: '/x' }));
    expect(text).toContain("libvirt.storage_pool_name = 'fast-ssd'");
    expect(text).not.toContain("storage_pool_name = 'default'");
  });

  it("a machine with its own key: no key swap, no hostname round trip; both reach the guest in SMBIOS", async () => {
    const render = (keys?: typeof ownKey) =>
      renderVagrantfile(REPO_TEMPLATE, buildVagrantfileView([machine({})], { labFile: 'lab.yaml', driver: 'qemu', labDir: '/x', projectRoot: '/x', keys }));
    REPO_TEMPLATE = await loadTemplate(REPO);
    const own = render(ownKey);
    expect(own).toContain('machine.ssh.insert_key = false');
    expect(own).toContain("machine.ssh.private_key_path = '/home/u/.vmlab/keys/vmlab-lab-web'");
    expect(own).toContain("'io.systemd.credential:vmlab.authorized-key=ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA vmlab-lab-web'");
    expect(own).toContain("'io.systemd.credential:vmlab.hostname=web'");
    expect(own).not.toContain('machine.vm.hostname');
    // A machine made before (no key of its own): Vagrant swaps its insecure key and sets the hostname, as before.
    const legacy = render();
    expect(legacy).toContain("machine.vm.hostname = 'web'");
    expect(legacy).not.toContain('insert_key');
    expect(legacy).not.toContain('oem strings');
  });

  it('says it is generated and must not be edited', async () => {
    const text = renderVagrantfile(await loadTemplate(REPO), buildVagrantfileView([], { labFile: 'lab.yaml', driver: 'kvm', labDir: '/x', projectRoot: '/x' }));
    expect(text).toMatch(/GENERATED by vmlab .* do not edit/);
  });

  it('fails loudly on a view field the template does not get (strict mode)', () => {
    expect(() => renderVagrantfile('{{missing}}', { labFile: 'x', machines: [] })).toThrowError(/missing/);
  });
});

describe('Ruby string literals', () => {
  it.each([
    ['plain', "'plain'"],
    ["it's", "'it\\'s'"],
    ['back\\slash', "'back\\\\slash'"],
    ['#{`id`}', "'#{`id`}'"],
  ])('%j -> %s (single-quoted: no interpolation)', (input, output) => {
    expect(rubyString(input)).toBe(output);
  });
});
