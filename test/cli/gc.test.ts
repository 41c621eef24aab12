import { existsSync } from 'node:fs';
import { mkdir, readFile, utimes, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type PlannedCall, Sandbox } from '../support/fakes.js';

/*
 * make gc against a planted "host": the sandbox's registry (debian-12 and docker at 0.20261120100000), a
 * second checkout's registry that claims vmlab/ubuntu-24.04 0.3, a libvirt pool whose volumes are real
 * files in the sandbox (for their size and age), two domains, Vagrant boxes, and the work folders of a
 * dead and of a live job.
 */

const URI = ['-c', 'qemu:///system'];
const CURRENT = '0.20261120100000';
const OLD_DEBIAN = '0.20261001000000';
const DEAD_PID = 4_194_000;
const boxVolume = (image: string, version: string) => `vmlab-VAGRANTSLASH-${image}_vagrant_box_image_${version}_box.img`;

let sandbox: Sandbox;
let pool: string;
let stateDir: string;
let otherIndex: string;
let deadWork: string;
let liveWork: string;

const VOLUMES = [
  boxVolume('debian-12', CURRENT), // claimed by this registry
  boxVolume('debian-12', OLD_DEBIAN), // unclaimed, but vmlab-lab-web's disk stands on it
  boxVolume('ubuntu-24.04', '0.3'), // claimed by the other registry
  boxVolume('old', '0.1'), // orphan
  'vmlab-seed-old-0.1.iso', // orphan
  'vmlab-seed-ubuntu-24.04-0.3.iso', // claimed by the other registry
  'vmlab-lab-web.img', // its domain exists
  'vmlab-gone-api.img', // a deleted checkout's machine: orphan
  'vmlab-lab-fresh.img', // no domain yet, but just created: skipped
  'ubuntu.qcow2', // not vmlab's
  'other-VAGRANTSLASH-x_vagrant_box_image_1_box.img', // not vmlab's
];
const ORPHAN_VOLUMES = [boxVolume('old', '0.1'), 'vmlab-seed-old-0.1.iso', 'vmlab-gone-api.img'];

const env = () => ({ VMLAB_STATE_DIR: stateDir });

function boxList(boxes: [string, string][]): string {
  return boxes.map(([name, version]) => `1700000000,,box-name,${name}\n1700000000,,box-provider,libvirt\n1700000000,,box-version,${version}\n`).join('');
}

function queries(options: { otherChainReadable?: boolean } = {}): PlannedCall[] {
  const volList = [' Name   Path', '-'.repeat(60), ...VOLUMES.map((name) => ` ${name}   ${path.join(pool, name)}`), ''].join('\n');
  return [
    { tool: 'virsh', args: [...URI, 'version'], stdout: 'Running hypervisor: QEMU 7.2.0\n' },
    { tool: 'virsh', args: [...URI, 'list', '--all'], stdout: ' Id   Name            State\n--------------------------------\n 1    vmlab-lab-web   running\n -    other-vm        shut off\n\n', repeat: true },
    { tool: 'virsh', args: [...URI, 'vol-list', 'default'], stdout: volList },
    {
      tool: 'virsh',
      args: [...URI, 'domblklist', 'vmlab-lab-web', '--details'],
      stdout: ` Type   Device   Target   Source\n------------------------------------------------\n file   disk     vda      ${path.join(pool, 'vmlab-lab-web.img')}\n file   cdrom    sda      -\n\n`,
    },
    {
      tool: 'qemu-img',
      args: ['info', '-U', '--backing-chain', '--output=json', path.join(pool, 'vmlab-lab-web.img')],
      stdout: JSON.stringify([
        { filename: path.join(pool, 'vmlab-lab-web.img'), 'full-backing-filename': path.join(pool, boxVolume('debian-12', OLD_DEBIAN)) },
        { filename: path.join(pool, boxVolume('debian-12', OLD_DEBIAN)) },
      ]),
    },
    {
      tool: 'virsh',
      args: [...URI, 'domblklist', 'other-vm', '--details'],
      stdout: ' Type   Device   Target   Source\n------------------------------------------------\n file   disk     vda      /srv/vms/other.qcow2\n\n',
    },
    options.otherChainReadable === false
      ? { tool: 'qemu-img', args: ['info', '-U', '--backing-chain', '--output=json', '/srv/vms/other.qcow2'], exitCode: 1, stderr: 'Permission denied\n' }
      : { tool: 'qemu-img', args: ['info', '-U', '--backing-chain', '--output=json', '/srv/vms/other.qcow2'], stdout: JSON.stringify([{ filename: '/srv/vms/other.qcow2' }]) },
    ...(options.otherChainReadable === false ? [{ tool: 'virsh' as const, args: [...URI, 'vol-dumpxml', '/srv/vms/other.qcow2'], exitCode: 1, stderr: 'error: no storage vol\n' }] : []),
    // vmlab-mgmt carries vmlab-lab-web; vmlab-lab-back is on no domain; default is not vmlab's.
    { tool: 'virsh', args: [...URI, 'net-list', '--all', '--name'], stdout: 'default\nvmlab-mgmt\nvmlab-lab-back\n' },
    { tool: 'virsh', args: [...URI, 'domiflist', 'vmlab-lab-web'], stdout: ' Interface   Type      Source       Model    MAC\n-----------------------------------------------------------\n vnet0       network   vmlab-mgmt   virtio   52:54:00:aa:bb:cc\n\n' },
    { tool: 'virsh', args: [...URI, 'domiflist', 'other-vm'], stdout: ' Interface   Type      Source    Model    MAC\n-----------------------------------------------------------\n -           network   default   virtio   52:54:00:aa:bb:dd\n\n' },
    {
      tool: 'vagrant',
      args: ['box', 'list', '--machine-readable'],
      stdout: boxList([
        ['generic/debian12', '4.3.12'],
        ['vmlab/debian-12', OLD_DEBIAN],
        ['vmlab/debian-12', CURRENT],
        ['vmlab/docker', CURRENT],
        ['vmlab/old', '0.1'],
        ['vmlab/ubuntu-24.04', '0.3'],
      ]),
    },
  ];
}

const removals: PlannedCall[] = [
  ...ORPHAN_VOLUMES.map((volume): PlannedCall => ({ tool: 'virsh', args: [...URI, 'vol-delete', '--pool', 'default', volume] })),
  { tool: 'vagrant', args: ['box', 'remove', 'vmlab/debian-12', '--provider', 'libvirt', '--box-version', OLD_DEBIAN, '--force'] },
  { tool: 'vagrant', args: ['box', 'remove', 'vmlab/old', '--provider', 'libvirt', '--box-version', '0.1', '--force'] },
];
/** The unused lab network goes too (it is no registry's business, so an unreadable one does not keep it). */
const networkRemovals: PlannedCall[] = [
  { tool: 'virsh', args: [...URI, 'net-destroy', 'vmlab-lab-back'], exitCode: 1, stderr: "error: network 'vmlab-lab-back' is not active\n" },
  { tool: 'virsh', args: [...URI, 'net-undefine', 'vmlab-lab-back'] },
];

const changes = (calls: { tool: string; args: string[] }[]) => calls.filter((call) => call.args.includes('vol-delete') || call.args.includes('remove'));

beforeEach(async () => {
  sandbox = await Sandbox.create();
  await sandbox.seedImages();
  pool = path.join(sandbox.root, 'pool');
  stateDir = path.join(sandbox.root, 'state');
  await mkdir(pool, { recursive: true });
  const dayAgo = new Date(Date.now() - 24 * 3600_000);
  for (const name of VOLUMES) {
    await writeFile(path.join(pool, name), Buffer.alloc(64 * 1024, 1));
    if (name !== 'vmlab-lab-fresh.img') await utimes(path.join(pool, name), dayAgo, dayAgo);
  }
  // A second checkout on the same host, and one whose checkout was deleted.
  otherIndex = path.join(sandbox.root, 'other/.vmlab/images/index.json');
  const other = JSON.parse(await readFile(path.join(sandbox.home, 'images/index.json'), 'utf8')) as { images: Record<string, Record<string, unknown>> };
  const ubuntu = { ...other.images['debian-12'], name: 'ubuntu-24.04', file: 'ubuntu-24.04.box', box: 'vmlab/ubuntu-24.04', boxVersion: '0.3' };
  await mkdir(path.dirname(otherIndex), { recursive: true });
  await writeFile(otherIndex, JSON.stringify({ version: 1, images: { 'ubuntu-24.04': ubuntu } }, null, 2));
  await mkdir(stateDir, { recursive: true });
  await writeFile(path.join(stateDir, 'registries.json'), JSON.stringify({ version: 1, registries: [otherIndex, path.join(sandbox.root, 'deleted/.vmlab/images/index.json')] }));
  // The work folder of a killed build, and one of a build that still runs (this test's own process).
  deadWork = path.join(sandbox.home, 'tmp', `build-old-${DEAD_PID}`);
  liveWork = path.join(sandbox.home, 'tmp', `build-docker-${process.pid}`);
  for (const dir of [deadWork, liveWork]) {
    await mkdir(path.join(dir, 'stage'), { recursive: true });
    await writeFile(path.join(dir, 'stage/box.img'), Buffer.alloc(128 * 1024, 1));
  }
});
afterEach(async () => sandbox.cleanup());

describe('make gc', () => {
  it('lists the orphans, with kind, size and why, and changes nothing', async () => {
    await sandbox.plan(queries());
    const before = await sandbox.snapshot();
    const result = await sandbox.make(['gc'], env());
    expect(result.exitCode, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/KIND\s+NAME\s+SIZE\s+WHY/);
    const listed = result.stdout.split('\n').filter((line) => /^(temp-folder|disk-volume|seed-volume|box-volume|vagrant-box|network) /.test(line));
    expect(listed.map((line) => line.split(/\s{2,}/).slice(0, 2).join(' ')).sort()).toEqual(
      [
        `temp-folder ${deadWork}`,
        `box-volume ${boxVolume('old', '0.1')}`,
        'seed-volume vmlab-seed-old-0.1.iso',
        'disk-volume vmlab-gone-api.img',
        `vagrant-box vmlab/debian-12 ${OLD_DEBIAN}`,
        'vagrant-box vmlab/old 0.1',
        'network vmlab-lab-back',
      ].sort(),
    );
    expect(result.stdout).toMatch(/disk-volume\s+vmlab-gone-api\.img\s+\d+ KiB\s+disk of a machine whose libvirt domain is gone/);
    expect(result.stdout).toContain('1 more kept for now');
    expect(result.stdout.trim().split('\n').at(-1)).toMatch(/Nothing removed\. To remove these: make gc YES=1$/);
    expect(changes(await sandbox.calls())).toEqual([]);
    expect(await sandbox.snapshot()).toEqual(before);
    for (const name of VOLUMES) expect(existsSync(path.join(pool, name))).toBe(true);
    await sandbox.expectPlanDone();
  });

  it('JSON=1 gives every item, the skipped recent volume too', async () => {
    await sandbox.plan(queries());
    const result = await sandbox.make(['gc', 'JSON=1'], env());
    expect(result.exitCode, result.stderr).toBe(0);
    const items = JSON.parse(result.stdout) as { kind: string; name: string; remove: boolean; why: string; bytes: number | null }[];
    expect(items.filter((item) => item.remove)).toHaveLength(7);
    expect(items.find((item) => item.name === 'vmlab-lab-fresh.img')).toMatchObject({ kind: 'disk-volume', remove: false, why: expect.stringContaining('recent, skipped') });
    expect(items.find((item) => item.name === 'vmlab-gone-api.img')?.bytes).toBeGreaterThan(0);
  });

  it('YES=1 removes exactly the planted orphans and nothing else', async () => {
    await sandbox.plan([...queries(), ...removals, ...networkRemovals]);
    const result = await sandbox.make(['gc', 'YES=1'], env());
    expect(result.exitCode, result.stderr).toBe(0);
    await sandbox.expectPlanDone();
    expect(changes(await sandbox.calls()).map((call) => call.args.join(' ')).sort()).toEqual(removals.map((call) => call.args.join(' ')).sort());
    for (const line of ['removed disk-volume vmlab-gone-api.img', `removed vagrant-box vmlab/old 0.1`, `removed temp-folder ${deadWork}`, 'removed network vmlab-lab-back']) expect(result.stdout).toContain(line);
    expect(existsSync(deadWork)).toBe(false);
    expect(existsSync(liveWork)).toBe(true);
    expect(existsSync(path.join(sandbox.home, 'images/index.json'))).toBe(true);
    // The deleted checkout is forgotten; the other one stays listed.
    expect(JSON.parse(await readFile(path.join(stateDir, 'registries.json'), 'utf8')).registries).toEqual([otherIndex]);
  });

  it('without the second registry on the host, its box and volumes would go: it is what keeps them', async () => {
    await writeFile(path.join(stateDir, 'registries.json'), JSON.stringify({ version: 1, registries: [] }));
    await sandbox.plan(queries());
    const items = JSON.parse((await sandbox.make(['gc', 'JSON=1'], env())).stdout) as { name: string; remove: boolean }[];
    expect(items.filter((item) => item.remove).map((item) => item.name)).toEqual(
      expect.arrayContaining(['vmlab/ubuntu-24.04 0.3', boxVolume('ubuntu-24.04', '0.3'), 'vmlab-seed-ubuntu-24.04-0.3.iso']),
    );
  });

  it('DRY_RUN=1 YES=1 prints the argv it would run and removes nothing', async () => {
    await sandbox.plan(queries());
    const result = await sandbox.make(['gc', 'YES=1', 'DRY_RUN=1'], env());
    expect(result.exitCode, result.stderr).toBe(0);
    for (const call of removals) expect(result.stdout).toContain([call.tool, ...call.args].join(' '));
    expect(result.stdout).toContain(`rm -rf ${deadWork}`);
    expect(changes(await sandbox.calls())).toEqual([]);
    expect(existsSync(deadWork)).toBe(true);
    await sandbox.expectPlanDone();
  });

  it('an unreadable registry on the host: no box or box volume is removed, and gc names the file', async () => {
    await writeFile(otherIndex, '{"version": 1, "images": {');
    const kept = [...removals.slice(2)];
    await sandbox.plan([...queries(), ...kept.filter((call) => call.args.includes('vmlab-gone-api.img')), ...networkRemovals]);
    const result = await sandbox.make(['gc', 'YES=1'], env());
    expect(result.exitCode, result.stderr).toBe(0);
    expect(result.stderr).toContain(`registry ${otherIndex} cannot be read`);
    expect(changes(await sandbox.calls()).map((call) => call.args.at(-1))).toEqual(['vmlab-gone-api.img']);
    expect(existsSync(deadWork)).toBe(false);
    await sandbox.expectPlanDone();
  });

  it('when what a VM stands on cannot be read, no volume is removed', async () => {
    await sandbox.plan([...queries({ otherChainReadable: false }), ...removals.filter((call) => call.tool === 'vagrant'), ...networkRemovals]);
    const result = await sandbox.make(['gc', 'YES=1'], env());
    expect(result.exitCode, result.stderr).toBe(0);
    expect(result.stderr).toMatch(/\/srv\/vms\/other\.qcow2 .*could not be read.*no volume is removed/);
    expect(changes(await sandbox.calls()).every((call) => call.tool === 'vagrant')).toBe(true);
    await sandbox.expectPlanDone();
  });
});
