import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { domainList, dominfo, hostReadings, libvirtUp, type PlannedCall, rootDisk, Sandbox, URI } from '../support/fakes.js';

/** Shared folders and disks (issue 17, items 3 and 6) against the fake tools. */
let sandbox: Sandbox;
beforeEach(async () => {
  sandbox = await Sandbox.create({ tools: ['vagrant', 'virsh', 'qemu-img', 'ip'] });
  await sandbox.seedImages();
});
afterEach(async () => sandbox.cleanup());

const DOMAIN = 'vmlab-lab-solo';
const writeLab = (extra: string) => writeFile(path.join(sandbox.labDir, 'lab.yaml'), `name: lab\nmachines:\n  solo:\n    role: base\n${extra}`);
const shutOff: PlannedCall[] = [libvirtUp, domainList([[DOMAIN, 'shut off']], true), dominfo(DOMAIN, 1, 1024, 'shut off')];
const up: PlannedCall = { tool: 'vagrant', args: ['up', 'solo', '--provider=libvirt'] };

describe('shared folders', () => {
  it('a folder that does not exist is refused at its line before any tool runs, and nothing is written', async () => {
    await writeLab('    folders: {"./src": /home/vagrant/src, "./nope": /srv}\n');
    await mkdir(path.join(sandbox.labDir, 'src'));
    await sandbox.plan([]);
    const before = await sandbox.snapshot();
    const result = await sandbox.make(['up']);
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toMatch(/lab\.yaml:5:\d+: machines\.solo\.folders: no such folder .*\/nope \(to share as \/srv\)/);
    expect(result.stderr).not.toContain('/src (to share');
    expect(result.stderr).toContain('Make the folder first');
    expect(await sandbox.snapshot()).toEqual(before);
    await sandbox.expectPlanDone();
  });

  it.each([
    ['virtiofs', 'type: "virtiofs"', true],
    ['9p', 'type: "9p", accessmode: "mapped"', false],
  ])('VMLAB_SHARED_FOLDERS=%s: the Vagrantfile shares the folder that way (shared memory for virtiofs only)', async (type, line, shared) => {
    await writeLab('    folders: {"./src": /home/vagrant/src}\n');
    await mkdir(path.join(sandbox.labDir, 'src'));
    await sandbox.plan([]);
    const result = await sandbox.make(['render'], { VMLAB_SHARED_FOLDERS: type });
    expect(result.exitCode, result.stderr).toBe(0);
    const vagrantfile = (await sandbox.readVagrantfile()) ?? '';
    expect(vagrantfile).toContain(`machine.vm.synced_folder '${path.join(sandbox.labDir, 'src')}', '/home/vagrant/src', ${line}`);
    expect(vagrantfile.includes('libvirt.memorybacking :access, :mode => "shared"')).toBe(shared);
  });
});

describe('disks', () => {
  it('data disks become volumes with serials; only the one with mount: is formatted and mounted, by its serial', async () => {
    await writeLab('    disks: [{size: 20, mount: /data}, {size: 5}]\n');
    await sandbox.plan([]);
    expect((await sandbox.make(['render'])).exitCode).toBe(0);
    const vagrantfile = (await sandbox.readVagrantfile()) ?? '';
    expect(vagrantfile).toContain(`libvirt.storage :file, :size => '20G', :type => "qcow2", :serial => 'vmlab-data-1'`);
    expect(vagrantfile).toContain(`libvirt.storage :file, :size => '5G', :type => "qcow2", :serial => 'vmlab-data-2'`);
    expect(vagrantfile).toMatch(/provision 'vmlab-data-disks', type: "shell", path: '[^']*scripts\/lab\/data-disks\.sh', env: \{\n\s+'VMLAB_DATA_DISKS' => 'vmlab-data-1=\/data',/);
  });

  it('a smaller disk: than the machine has is refused at its line, with the reason, before anything changes', async () => {
    await writeLab('    disk: 8\n');
    await sandbox.plan([...shutOff, ...rootDisk(DOMAIN, 10)]);
    const before = await sandbox.snapshot();
    const result = await sandbox.make(['up']);
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toMatch(/lab\.yaml:5:\d+: machines\.solo\.disk: 8 GiB is smaller than solo's disk of 10 GiB: a disk never shrinks/);
    expect(result.stderr).toContain('Nothing was changed');
    const calls = await sandbox.calls();
    expect(calls.filter((call) => call.tool === 'vagrant' || call.args.includes('vol-resize'))).toEqual([]);
    expect(await sandbox.snapshot()).toEqual(before);
    await sandbox.expectPlanDone();
  });

  it('a raised disk: on a machine that is off: its volume grows before it boots', async () => {
    await writeLab('    disk: 12\n');
    const volume = `/var/lib/libvirt/images/${DOMAIN}.img`;
    await sandbox.plan([...shutOff, ...rootDisk(DOMAIN, 10), ...hostReadings, { tool: 'virsh', args: [...URI, 'vol-resize', volume, '12G'] }, up]);
    const result = await sandbox.make(['up']);
    expect(result.exitCode, result.stderr).toBe(0);
    expect(result.stderr).toContain('solo: disk 10 -> 12 GiB (/ grows at this boot)');
    const order = (await sandbox.calls()).filter((call) => call.tool === 'vagrant' || call.args.includes('vol-resize')).map((call) => call.args.join(' '));
    expect(order).toEqual([`-c qemu:///system vol-resize ${volume} 12G`, 'up solo --provider=libvirt']);
    await sandbox.expectPlanDone();
  });

  it('a disk: below the image\'s own size (vagrant-libvirt made the disk that large) is no shrink: the machine just starts', async () => {
    await writeLab('    disk: 5\n');
    await sandbox.plan([...shutOff, ...rootDisk(DOMAIN, 8), ...hostReadings, up]);
    const result = await sandbox.make(['up']);
    expect(result.exitCode, result.stderr).toBe(0);
    expect(result.stderr).not.toContain('smaller');
    await sandbox.expectPlanDone();
  });

  it('data disks declared after the machine was made are named in a warning', async () => {
    await writeLab('    disks: [{size: 2}]\n');
    await sandbox.plan([...shutOff, ...rootDisk(DOMAIN, 10), ...hostReadings, up]);
    const result = await sandbox.make(['up']);
    expect(result.exitCode, result.stderr).toBe(0);
    expect(result.stderr).toContain('solo: 1 of its disks: are not attached');
    await sandbox.expectPlanDone();
  });
});

describe('after a host reboot', () => {
  it('the networks the machines need that are defined but down are started by vmlab before the machines go up', async () => {
    await writeFile(path.join(sandbox.labDir, 'lab.yaml'), 'name: lab\nnetworks:\n  back: 10.20.0.0/24\nmachines:\n  solo:\n    role: base\n    network: back\n    ip: 10.20.0.11\n');
    await sandbox.plan([
      ...shutOff,
      ...rootDisk(DOMAIN, 10),
      { tool: 'ip', args: ['-4', 'route', 'show'], stdout: 'default via 192.0.2.1 dev eth0\n', repeat: true },
      ...hostReadings.filter((call) => call.args[2] !== 'net-list'),
      { tool: 'virsh', args: [...URI, 'net-list', '--all', '--name'], stdout: 'vmlab-mgmt\nvmlab-lab-back\n', repeat: true },
      { tool: 'virsh', args: [...URI, 'net-info', 'vmlab-lab-back'], stdout: 'Name:           vmlab-lab-back\nBridge:         virbr3\n', repeat: true },
      { tool: 'virsh', args: [...URI, 'net-list', '--inactive', '--name'], stdout: 'vmlab-mgmt\nvmlab-lab-back\nvmlab-other-net\n' },
      { tool: 'virsh', args: [...URI, 'net-start', 'vmlab-mgmt'] },
      { tool: 'virsh', args: [...URI, 'net-start', 'vmlab-lab-back'] },
      up,
    ]);
    const result = await sandbox.make(['up']);
    expect(result.exitCode, result.stderr).toBe(0);
    expect(result.stderr).toContain('network vmlab-lab-back is defined but not running (a host reboot?): starting it');
    const order = (await sandbox.calls()).filter((call) => call.tool === 'vagrant' || call.args.includes('net-start')).map((call) => call.args.at(-1));
    expect(order).toEqual(['vmlab-mgmt', 'vmlab-lab-back', '--provider=libvirt']);
    await sandbox.expectPlanDone();
  });
});
