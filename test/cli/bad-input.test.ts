import { readFileSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { domainList, healthChecks, hostReadings, libvirtUp, noDomains, type PlannedCall, REPO, Sandbox, URI } from '../support/fakes.js';
import { addCustomImage, changingCalls, expectMakeFailure, labState, seedQueue } from '../support/refusal-kit.js';

/*
 * Bad input (issue 7, item 4), against the fake tools: every row is refused with its message and exit code,
 * leaves lab.yaml, the Vagrantfile, the registry and the build queue as they were, and runs nothing that
 * changes state (only read-only virsh queries; no vagrant, no qemu-img).
 */

const LAB = 'name: lab\nmachines:\n  web:\n    role: docker\n';
const fixture = (name: string) => readFileSync(path.join(REPO, 'test/fixtures', name), 'utf8');
/** What creating a machine reads before it would change anything: no domains, the host's room. */
const creating: PlannedCall[] = [libvirtUp, { ...noDomains, repeat: true }, ...hostReadings];
const libvirtDown: PlannedCall[] = [{ tool: 'virsh', args: [...URI, 'version'], exitCode: 1, stderr: fixture('virsh/connect-failed.stderr'), repeat: true }];
const webWithSnapshot: PlannedCall[] = [
  libvirtUp,
  domainList([['vmlab-lab-web', 'running']], true),
  { tool: 'virsh', args: [...URI, 'snapshot-list', 'vmlab-lab-web'], stdout: fixture('virsh/snapshot-list.txt'), repeat: true },
];
/** A lab with a network, for the address rules. */
const networked = (machines: string) => `name: lab\nnetworks:\n  back: 10.20.0.0/24\nmachines:\n${machines}`;

interface Row {
  case: string;
  /** make arguments, or the CLI's own with via: 'cli'. */
  args: string[];
  via?: 'make' | 'cli';
  /** The CLI's exit code (through make: the N of make's "Error N"). */
  code: number;
  message: RegExp;
  lab?: string;
  plan?: PlannedCall[];
  tools?: PlannedCall['tool'][];
  prepare?: (sandbox: Sandbox) => Promise<void>;
  env?: (sandbox: Sandbox) => Record<string, string>;
}

/** A folder where a state file should be. */
async function fileToFolder(file: string): Promise<void> {
  await rm(file, { force: true });
  await mkdir(file, { recursive: true });
}

const rows: Row[] = [
  // Names that do not exist.
  { case: 'an unknown role', args: ['create-nosuch', 'NAME=x'], code: 2, message: /unknown role "nosuch"\n.*Known roles: .*docker/ },
  { case: 'an unknown role (CLI)', via: 'cli', args: ['create', 'nosuch', '--name', 'x'], code: 2, message: /unknown role "nosuch"/ },
  {
    case: 'an unknown role in lab.yaml',
    args: ['up'],
    lab: 'name: lab\nmachines:\n  a:\n    role: nosuch\n',
    code: 2,
    message: /lab\.yaml:4:11: machines\.a\.role: unknown role "nosuch" for machine a\n\s+next: Known roles: .*docker/,
  },
  { case: 'an unknown image (create)', args: ['create-docker', 'NAME=x', 'IMAGE=nosuch'], plan: creating, code: 2, message: /unknown image "nosuch"\n.*Known images: .*debian-12/ },
  { case: 'an unknown image (build)', args: ['build', 'IMAGE=nosuch'], code: 2, message: /unknown image "nosuch"/ },
  { case: 'an unknown image (image-rm)', args: ['image-rm', 'IMAGE=nosuch', 'YES=1'], code: 2, message: /unknown image "nosuch"/ },
  { case: 'an unknown machine (start)', args: ['start', 'NAME=nope'], code: 2, message: /no machine named "nope" in lab\.yaml\n.*Known machines: web/ },
  { case: 'an unknown machine (stop)', args: ['stop', 'NAME=nope'], code: 2, message: /no machine named "nope"/ },
  { case: 'an unknown machine (ssh)', args: ['ssh', 'NAME=nope', 'CMD=true'], code: 2, message: /no machine named "nope"/ },
  { case: 'an unknown machine (delete)', args: ['delete', 'NAME=nope', 'YES=1'], code: 2, message: /no machine named "nope"/ },
  { case: 'an unknown machine (export)', args: ['export', 'NAME=nope', 'TARGET=golden'], code: 2, message: /no machine named "nope"/ },
  { case: 'an unknown machine (clone)', args: ['clone', 'SOURCE=nope', 'TARGET=web2'], code: 2, message: /no machine named "nope"/ },
  { case: 'an unknown machine (snapshot)', args: ['snapshot', 'NAME=nope', 'ACTION=create', 'SNAP=s1'], code: 2, message: /no machine named "nope"/ },
  { case: 'an unknown machine (check)', args: ['check', 'NAME=nope'], code: 2, message: /no machine named "nope"/ },
  { case: 'an unknown machine (CLI)', via: 'cli', args: ['stop', 'nope'], code: 2, message: /no machine named "nope"/ },
  {
    case: 'an unknown snapshot label',
    args: ['snapshot', 'NAME=web', 'ACTION=restore', 'SNAP=nope', 'YES=1'],
    plan: webWithSnapshot,
    code: 2,
    message: /no snapshot nope on web \(known snapshots: web: before, clean\)/,
  },
  { case: 'an unknown GROUP (up)', args: ['up', 'GROUP=nope'], code: 2, message: /no group named "nope" in lab\.yaml/ },
  { case: 'an unknown GROUP (plan)', args: ['plan', 'GROUP=nope'], code: 2, message: /no group named "nope" in lab\.yaml/ },
  { case: 'an unknown GROUP (destroy)', args: ['destroy', 'GROUP=nope', 'YES=1'], code: 2, message: /no group named "nope"/ },
  {
    case: 'a group listing an unknown machine',
    args: ['up', 'GROUP=db'],
    lab: 'name: lab\ngroups:\n  db: [a, ghost]\nmachines:\n  a:\n    role: base\n',
    code: 2,
    message: /lab\.yaml:3:\d+: groups\.db\.1: no machine named "ghost" under machines:/,
  },

  // Names vmlab cannot use: each would become a libvirt name, a hostname and a folder.
  { case: 'a name with a space', args: ['create-docker', 'NAME=a b'], code: 2, message: /invalid machine name "a b"/ },
  { case: 'a name with a slash', args: ['create-docker', 'NAME=a/b'], code: 2, message: /invalid machine name "a\/b"/ },
  { case: 'a name with quotes', args: ['create-docker', `NAME=a"b'c`], code: 2, message: /invalid machine name "a\\"b'c"/ },
  { case: 'a name with $()', args: ['create-docker', 'NAME=$(touch PWNED)'], code: 2, message: /invalid machine name "\$\(touch PWNED\)"/ },
  { case: 'a name with ;', args: ['create-docker', 'NAME=x;touch PWNED'], code: 2, message: /invalid machine name "x;touch PWNED"/ },
  { case: 'a unicode name', args: ['create-docker', 'NAME=wéb'], code: 2, message: /invalid machine name "wéb"/ },
  { case: 'a unicode name (CLI)', via: 'cli', args: ['create', 'docker', '--name', 'wéb'], code: 2, message: /invalid machine name "wéb"/ },
  { case: 'a name that is too long', args: ['create-docker', `NAME=${'a'.repeat(41)}`], code: 2, message: /invalid machine name "a{41}": .*at most 40 characters/ },
  { case: 'an uppercase name', args: ['create-docker', 'NAME=Web'], code: 2, message: /invalid machine name "Web"/ },
  { case: 'a clone TARGET with a slash', args: ['clone', 'SOURCE=web', 'TARGET=a/b'], code: 2, message: /invalid machine name "a\/b"/ },
  { case: 'an uppercase group name', args: ['create-group', 'GROUP=Db', 'ROLE=base', 'COUNT=2'], code: 2, message: /invalid group name "Db"/ },
  { case: 'a group name given twice in NAMES', args: ['create-group', 'GROUP=db', 'ROLE=base', 'NAMES=a,a'], code: 2, message: /a machine name is given twice: a, a/ },
  { case: 'a snapshot label with a space', args: ['snapshot', 'NAME=web', 'ACTION=create', 'SNAP=a b'], code: 2, message: /invalid snapshot label "a b"/ },
  { case: 'an unknown snapshot ACTION', args: ['snapshot', 'NAME=web', 'ACTION=explode'], code: 2, message: /unknown snapshot ACTION "explode": use one of create, list, restore, delete/ },
  { case: 'an unknown DRIVER', args: ['create-docker', 'NAME=x', 'DRIVER=xen'], code: 2, message: /unknown DRIVER "xen"/ },
  { case: 'an unknown JOB', args: ['queue-cancel', 'JOB=nope'], code: 2, message: /unknown job "nope"/ },

  // lab.yaml that cannot be read: each problem with its file, line and column.
  { case: 'malformed lab.yaml (syntax)', args: ['up'], lab: 'name: lab\nmachines:\n  web:\n    role: [docker\n', code: 2, message: /lab\.yaml:5:1: Flow sequence in block collection must be sufficiently indented and end with a \]/ },
  { case: 'malformed lab.yaml (CLI)', via: 'cli', args: ['create', 'base', '--name', 'dev'], lab: 'name: lab\nmachines:\n  web: [\n', code: 2, message: /^error: lab\.yaml:\d+:\d+: /m },
  { case: 'cpus: two in lab.yaml', args: ['up'], lab: `${LAB}    cpus: two\n`, code: 2, message: /lab\.yaml:5:11: machines\.web\.cpus: cpus is a whole number of vCPUs, such as 2/ },
  { case: 'memory: 2G in lab.yaml', args: ['plan'], lab: `${LAB}    memory: 2G\n`, code: 2, message: /lab\.yaml:5:13: machines\.web\.memory: memory is a whole number of MiB, such as 2048/ },
  { case: 'machins: (a typo) in lab.yaml', args: ['plan'], lab: 'name: lab\nmachins:\n  web:\n    role: docker\n', code: 2, message: /lab\.yaml:2:1: machins: unknown field; did you mean machines\?/ },
  { case: 'memroy: (a typo) under a machine', args: ['up'], lab: `${LAB}    memroy: 2048\n`, code: 2, message: /lab\.yaml:5:5: machines\.web\.memroy: unknown field; did you mean memory\?/ },
  { case: 'lab.yaml that is a list', args: ['plan'], lab: '- web\n- db\n', code: 2, message: /lab\.yaml: the file must be a map of fields \(lines such as "name: \.\.\."\), not a list\n\s+next: lab\.yaml is YAML text/ },
  {
    case: 'lab.yaml that is not text',
    args: ['list'],
    prepare: (sandbox) => writeFile(path.join(sandbox.labDir, 'lab.yaml'), Buffer.from([0x1f, 0x8b, 0x08, 0x00, 0xff, 0xfe, 0x00, 0x41])),
    code: 2,
    message: /lab\.yaml: this is not a text file \(it holds binary data\); it must be YAML text\n\s+next: /,
  },
  { case: 'machines: [a, b] in lab.yaml', args: ['plan'], lab: 'name: lab\nmachines: [a, b]\n', code: 2, message: /lab\.yaml:2:11: machines: Expected object, received array/ },
  {
    case: 'a duplicate IP (plan)',
    args: ['plan'],
    lab: networked('  a:\n    role: base\n    ip: 10.20.0.11\n    network: back\n  b:\n    role: base\n    ip: 10.20.0.11\n    network: back\n'),
    code: 2,
    message: /lab\.yaml:11:9: machines\.b\.ip: 10\.20\.0\.11 is already the address of a/,
  },
  {
    case: 'a duplicate IP (up)',
    args: ['up'],
    lab: networked('  a:\n    role: base\n    ip: 10.20.0.11/24\n  b:\n    role: base\n    ip: 10.20.0.11/24\n'),
    code: 2,
    message: /lab\.yaml:10:9: machines\.b\.ip: 10\.20\.0\.11 is already the address of a/,
  },
  {
    case: 'an IP outside its network (plan)',
    args: ['plan'],
    lab: networked('  a:\n    role: base\n    ip: 10.30.0.11\n    network: back\n'),
    code: 2,
    message: /lab\.yaml:7:9: machines\.a\.ip: 10\.30\.0\.11 is outside network back \(10\.20\.0\.0\/24\)/,
  },
  {
    case: 'an IP outside its network (up)',
    args: ['up'],
    lab: networked('  a:\n    role: base\n    ip: 10.30.0.11\n    network: back\n'),
    code: 2,
    message: /lab\.yaml:7:9: machines\.a\.ip: 10\.30\.0\.11 is outside network back/,
  },
  {
    case: "an IP equal to the network's .1",
    args: ['up'],
    lab: networked('  a:\n    role: base\n    ip: 10.20.0.1\n    network: back\n'),
    code: 2,
    message: /lab\.yaml:7:9: machines\.a\.ip: 10\.20\.0\.1 is the host's own address on 10\.20\.0\.0\/24; use \.2 or above/,
  },
  {
    case: 'a provision script that does not exist',
    args: ['up'],
    lab: 'name: lab\nmachines:\n  a:\n    role: base\n    provision: [missing.sh]\n',
    code: 2,
    message: /lab\.yaml:5:\d+: machines\.a\.provision\.0: no such script \S*\/lab\/missing\.sh/,
  },
  {
    case: 'a secret whose VMLAB_SECRET_ variable is not set',
    args: ['up'],
    lab: 'name: lab\nmachines:\n  a:\n    role: base\n    secrets: [DB_PASSWORD]\n',
    plan: [libvirtUp, noDomains],
    code: 2,
    message: /secrets not set: VMLAB_SECRET_DB_PASSWORD \(for a\)\n\s+next: Set them in the environment, not on the command line/,
  },

  // Sizes: out of range, not numbers, or more than this host has.
  { case: 'a negative MEMORY', args: ['create-docker', 'NAME=x', 'MEMORY=-5'], code: 2, message: /invalid size: MEMORY: memory is in MiB and must be at least 256/ },
  { case: 'an absurd CPUS', args: ['create-docker', 'NAME=x', 'CPUS=1000'], code: 2, message: /invalid size: CPUS: .*64/ },
  { case: 'an absurd DISK', args: ['create-docker', 'NAME=x', 'DISK=100000'], code: 2, message: /invalid size: DISK: .*2048/ },
  { case: 'CPUS that is not a number', args: ['create-docker', 'NAME=x', 'CPUS=two'], code: 2, message: /CPUS must be a whole number of vCPUs, got "two"\n\s+next: Example: CPUS=2$/m },
  // The example must be a value that is then accepted (MEMORY=2 is refused: memory is in MiB).
  { case: 'MEMORY that is not a number', args: ['create-docker', 'NAME=x', 'MEMORY=abc'], code: 2, message: /MEMORY must be a whole number of MiB, got "abc"\n\s+next: Example: MEMORY=2048$/m },
  { case: 'DISK that is not a number', args: ['create-docker', 'NAME=x', 'DISK=20G'], code: 2, message: /DISK must be a whole number of GiB, got "20G"\n\s+next: Example: DISK=20$/m },
  { case: 'COUNT out of range', args: ['create-group', 'GROUP=db', 'ROLE=base', 'COUNT=99'], code: 2, message: /a group needs 1 to 16 machines, got 99/ },
  { case: 'a SUBNET that is not one', args: ['create-group', 'GROUP=db', 'ROLE=base', 'COUNT=2', 'SUBNET=10.20.0/24'], code: 2, message: /SUBNET "10\.20\.0\/24" is not a subnet/ },
  {
    case: 'a VM too large for the host',
    args: ['create-docker', 'NAME=x', 'MEMORY=200000'],
    plan: creating,
    code: 1,
    message: /not enough room on this host: (\S+ and )?memory( and disk)? would go over the limit\n[\s\S]*\+ x\s+to create\s+2\s+200000 MiB[\s\S]*\nlimit\s+\d+\s+\d+ MiB/,
  },

  // Images: replacing or removing what others depend on.
  {
    case: 'export onto an existing TARGET',
    args: ['export', 'NAME=web', 'TARGET=golden'],
    prepare: (sandbox) => addCustomImage(sandbox, 'golden', 'docker'),
    code: 1,
    message: /image golden already exists \(custom, export of web.*\n.*make export NAME=web TARGET=golden FORCE=1/,
  },
  { case: 'deleting an image with children', args: ['image-rm', 'IMAGE=debian-12', 'YES=1'], code: 1, message: /image debian-12 has child images: base, docker\n.*make image-rm IMAGE=base YES=1/ },

  // State files that cannot be read (issue 13.4): a folder where the file should be makes the read fail
  // with EISDIR even as root (chmod 000 does not stop root; the EACCES case runs as nobody, below).
  {
    case: 'the registry index is a folder (images)',
    args: ['images'],
    prepare: (sandbox) => fileToFolder(path.join(sandbox.home, 'images/index.json')),
    code: 1,
    message: /cannot read the image registry index \(\S+\/home\/images\/index\.json\): it is a folder where a file should be\. Nothing was changed\.\n\s+next: Move the folder away \(mv \S+index\.json \S+index\.json\.moved\)/,
  },
  {
    case: 'the registry index is a folder (create)',
    args: ['create-docker', 'NAME=x'],
    plan: creating,
    prepare: (sandbox) => fileToFolder(path.join(sandbox.home, 'images/index.json')),
    code: 1,
    message: /cannot read the image registry index \(\S+index\.json\): it is a folder where a file should be/,
  },
  {
    case: 'the build queue is a folder',
    args: ['queue'],
    prepare: (sandbox) => fileToFolder(path.join(sandbox.home, 'queue/queue.json')),
    code: 1,
    message: /cannot read the build queue \(\S+\/queue\/queue\.json\): it is a folder where a file should be\. Nothing was changed\./,
  },
  {
    case: 'lab.yaml is a folder',
    args: ['list'],
    prepare: (sandbox) => fileToFolder(path.join(sandbox.labDir, 'lab.yaml')),
    code: 1,
    message: /cannot read \S*lab\.yaml \(\S+\/lab\/lab\.yaml\): it is a folder where a file should be\. Nothing was changed\./,
  },
  {
    case: 'the logs folder is a file (create)',
    args: ['create-docker', 'NAME=x'],
    plan: creating,
    prepare: (sandbox) => writeFile(path.join(sandbox.home, 'logs'), 'not a folder\n'),
    code: 1,
    message: /\S+\/home\/logs is a file where vmlab keeps a folder \(logs\/\)\. Nothing was changed\.\n\s+next: Move it away/,
  },

  // VMLAB_HOME that cannot be used (issue 13.6): named as such, not "No images yet".
  {
    case: 'VMLAB_HOME that does not exist (images)',
    args: ['images'],
    env: (sandbox) => ({ VMLAB_HOME: path.join(sandbox.root, 'no-such-home') }),
    code: 1,
    message: /VMLAB_HOME=\S+\/no-such-home does not exist\. Nothing was changed\.\n\s+next: Check the path \(a typo\?\); mkdir -p \S+no-such-home/,
  },
  {
    case: 'VMLAB_HOME that does not exist (queue)',
    args: ['queue'],
    env: (sandbox) => ({ VMLAB_HOME: path.join(sandbox.root, 'no-such-home') }),
    code: 1,
    message: /VMLAB_HOME=\S+\/no-such-home does not exist/,
  },
  {
    case: 'VMLAB_HOME that is a file (create)',
    args: ['create-docker', 'NAME=x'],
    env: (sandbox) => ({ VMLAB_HOME: path.join(sandbox.labDir, 'lab.yaml') }),
    code: 1,
    message: /VMLAB_HOME=\S+\/lab\.yaml is a file, not a folder\. Nothing was changed\./,
  },

  // The host: libvirtd stopped, vagrant missing.
  { case: 'libvirtd stopped (create)', args: ['create-docker', 'NAME=web2'], plan: libvirtDown, code: 1, message: /libvirtd is not reachable at qemu:\/\/\/system: failed to connect to the hypervisor\n.*make setup/ },
  { case: 'libvirtd stopped (up)', args: ['up'], plan: libvirtDown, code: 1, message: /libvirtd is not reachable at qemu:\/\/\/system/ },
  { case: 'libvirtd stopped (snapshot, CLI)', via: 'cli', args: ['snapshot', 'list', 'web'], plan: libvirtDown, code: 1, message: /libvirtd is not reachable/ },
  { case: 'vagrant missing (create)', args: ['create-docker', 'NAME=web2'], tools: ['virsh', 'qemu-img'], code: 1, message: /vagrant is not installed \(or not on PATH\)\n.*make setup/ },
  { case: 'vagrant missing (ssh)', args: ['ssh', 'NAME=web', 'CMD=true'], tools: ['virsh', 'qemu-img'], code: 1, message: /vagrant is not installed/ },
];

describe.concurrent('bad input is refused and changes nothing', () => {
  it.each(rows)('$case', async (row) => {
    const sandbox = await Sandbox.create(row.tools ? { tools: row.tools } : {});
    try {
      await sandbox.seedImages();
      await seedQueue(sandbox);
      await writeFile(path.join(sandbox.labDir, 'lab.yaml'), row.lab ?? LAB);
      await row.prepare?.(sandbox);
      await sandbox.plan(row.plan ?? [libvirtUp]);
      const before = await labState(sandbox);

      const env = row.env?.(sandbox) ?? {};
      const result = row.via === 'cli' ? await sandbox.cli(row.args, env) : await sandbox.make(row.args, env);
      expect(result.stderr).toMatch(row.message);
      if (row.via === 'cli') expect(result.exitCode, result.stderr).toBe(row.code);
      else expectMakeFailure(result, row.code);
      expect(result.stderr).not.toContain('vmlab crashed');
      expect(await labState(sandbox)).toEqual(before);
      expect(changingCalls(await sandbox.calls())).toEqual([]);
    } finally {
      await sandbox.cleanup();
    }
  });
});

describe('resource admission', () => {
  // FORCE=1 shows the same table as a warning and goes ahead: the machine is declared and vagrant up runs.
  it('a VM too large for the host goes ahead with FORCE=1', async () => {
    const sandbox = await Sandbox.create();
    try {
      await sandbox.seedImages();
      await writeFile(path.join(sandbox.labDir, 'lab.yaml'), LAB);
      await sandbox.plan([...creating, { tool: 'vagrant', args: ['up', 'x', '--provider=libvirt'] }, healthChecks('x', 2)]);
      const result = await sandbox.make(['create-docker', 'NAME=x', 'MEMORY=200000', 'FORCE=1']);
      expect(result.exitCode, result.stderr).toBe(0);
      expect(result.stderr).toMatch(/starting beyond this host's limits \((\S+ and )?memory( and disk)?\) because of FORCE=1:\n[\s\S]*\nlimit\s+\d+\s+\d+ MiB/);
      expect(await sandbox.readLab()).toMatch(/\n {2}x:\n {4}role: docker\n {4}memory: 200000\n/);
      expect(await sandbox.readVagrantfile()).toContain('libvirt.memory = 200000');
      await sandbox.expectPlanDone();
    } finally {
      await sandbox.cleanup();
    }
  });
});

describe('a missing storage pool', () => {
  // make doctor reads the pool and names it missing, with the fix; it reads only and changes nothing.
  it('make doctor reports the pool missing with the fix, exit 1', async () => {
    const sandbox = await Sandbox.create();
    try {
      await sandbox.seedImages();
      await writeFile(path.join(sandbox.labDir, 'lab.yaml'), LAB);
      await sandbox.plan([
        libvirtUp,
        { tool: 'virsh', args: [...URI, 'pool-dumpxml', 'default'], exitCode: 1, stderr: "error: failed to get pool 'default'\nerror: Storage pool not found: no storage pool with matching name 'default'\n" },
        { tool: 'virsh', args: [...URI, 'net-info', 'vmlab-mgmt'], stdout: 'Name:           vmlab-mgmt\nBridge:         virbr1\n', repeat: true },
        { tool: 'vagrant', args: ['--version'], stdout: 'Vagrant 2.3.4\n' },
        { tool: 'vagrant', args: ['plugin', 'list'], stdout: 'vagrant-libvirt (0.11.2, system)\n' },
      ]);
      const before = await labState(sandbox);
      const result = await sandbox.make(['doctor']);
      expectMakeFailure(result, 1);
      expect(result.stdout).toMatch(/^FAIL\s+pool default\s+missing\s+make setup \(creates it\)$/m);
      expect(result.stdout).toMatch(/^OK\s+libvirtd\s/m);
      expect(result.stdout).toMatch(/^OK\s+vagrant\s+2\.3\.4/m);
      expect(result.stderr).toMatch(/1 check\(s\) failed: pool default/);
      expect(await labState(sandbox)).toEqual(before);
      const calls = await sandbox.calls();
      expect(calls.filter((call) => call.unplanned && call.tool !== 'ip')).toEqual([]);
      expect(changingCalls(calls).filter((call) => call.tool !== 'ip').map((call) => [call.tool, ...call.args].join(' ')).sort()).toEqual(['vagrant --version', 'vagrant plugin list']);
    } finally {
      await sandbox.cleanup();
    }
  });
});
