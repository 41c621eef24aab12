import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RealLab } from './real-lab.js';

/**
 * Issue 17 items 3, 6, 7 on one real VM of the base image: a shared folder (virtiofs, read-write both
 * ways), data disks (one formatted and mounted, one raw), a raised disk: grown with its root file system
 * at the next start and a smaller one refused, and the lab back after a host reboot (every domain and
 * network of the lab destroyed behind vmlab's back) with nothing but `make up`.
 */
export function storageSuite(): void {
  describe.sequential('shared folders, disks and a host reboot on one VM', () => {
    const lab = new RealLab('st');
    const machine = 'box';
    const lines = (disk: number, folder = './src') =>
      [
        `name: ${lab.id}`,
        'networks:',
        '  back: 10.78.0.0/24',
        'machines:',
        `  ${machine}:`,
        '    role: plain',
        '    memory: 768',
        `    disk: ${disk}`,
        '    network: back',
        '    ip: 10.78.0.11',
        `    folders: {"${folder}": /home/vagrant/src}`,
        '    disks: [{size: 2, mount: /data}, {size: 1}]',
        '',
      ].join('\n');
    const writeLab = (disk: number, folder?: string) => writeFile(path.join(lab.labDir, 'lab.yaml'), lines(disk, folder));
    const ssh = async (command: string) => {
      const result = await lab.make(['ssh', `NAME=${machine}`, `CMD=${command}`]);
      expect(result.exitCode, result.all?.slice(-2000)).toBe(0);
      return result.stdout.trim();
    };
    const ourDomains = async () => (await lab.virsh(['list', '--all', '--name'])).split('\n').filter((name) => name.startsWith(`vmlab-${lab.id}-`));
    let started = 0;

    beforeAll(async () => {
      await lab.open({ copyProject: true });
      // A role on the base image with one trivial feature: nothing to install at first boot, no role image.
      await writeFile(path.join(lab.project, 'scripts', 'features', 'plain.sh'), '#!/usr/bin/env bash\necho plain\n');
      await writeFile(
        path.join(lab.project, 'roles', 'plain.yaml'),
        'description: the base image as it is\nimage: debian-12\nparent: debian-12\nresources: {cpus: 1, memory: 768, disk: 10}\nfeatures: [plain]\n',
      );
      await mkdir(path.join(lab.labDir, 'src'));
      // The guest's vagrant user (uid 1000) writes through virtiofs with its own uid: let it.
      await chmod(path.join(lab.labDir, 'src'), 0o777);
      await writeFile(path.join(lab.labDir, 'src', 'from-host.txt'), 'hello from the host\n');
      started = Date.now();
    });
    afterAll(async () => {
      process.stderr.write(`[measure] storage suite, real-VM time: ${((Date.now() - started) / 1000).toFixed(0)} s\n`);
      await lab.cleanup([machine]);
    }, 900_000);

    it('a shared folder that does not exist is refused with its line, and nothing is made', async () => {
      await writeLab(10, './nope');
      const result = await lab.make(['up']);
      expect(result.exitCode).not.toBe(0);
      expect(result.stderr).toMatch(/lab\.yaml:\d+:\d+: machines\.box\.folders: no such folder .*\/nope \(to share as \/home\/vagrant\/src\)/);
      expect(await ourDomains()).toEqual([]);
    }, 120_000);

    it('make up: the folder is shared read-write by virtiofs, /data is a formatted data disk, the other disk is raw', async () => {
      await writeLab(10);
      const up = await lab.make(['up']);
      expect(up.exitCode, up.all?.slice(-4000)).toBe(0);
      expect(up.all).toContain(`${machine}: shared folders by virtiofs (the host has virtiofsd`);
      const report = await ssh(
        'findmnt -no FSTYPE /home/vagrant/src; cat /home/vagrant/src/from-host.txt; echo from the guest > /home/vagrant/src/from-guest.txt; ' +
          'findmnt -no FSTYPE /data; sudo sh -c "echo kept > /data/marker && sync"; echo "raw:$(sudo blkid -o value -s TYPE /dev/vdc)"; df -B1G --output=size / | tail -1',
      );
      const [fsType, fromHost, dataType, raw, rootGiB] = report.split('\n').map((line) => line.trim());
      expect(fsType).toBe('virtiofs');
      expect(fromHost).toBe('hello from the host');
      expect(await readFile(path.join(lab.labDir, 'src', 'from-guest.txt'), 'utf8')).toBe('from the guest\n');
      expect(dataType).toBe('ext4');
      expect(raw).toBe('raw:');
      expect(Number(rootGiB)).toBeLessThanOrEqual(10);
    }, 900_000);

    it('after a host reboot (domain and networks destroyed behind vmlab): a smaller disk: is refused and changes nothing; make up brings it back with a raised disk grown', async () => {
      // What a host reboot leaves: the domain shut off, the lab's networks defined but inactive. vmlab's
      // management network is shared by every lab on the host: destroyed only when no other VM is on it.
      await lab.virsh(['destroy', lab.domain(machine)]);
      const networks = [`vmlab-${lab.id}-back`];
      // Every other domain counts, shut off and saved ones too: they need the network when they start.
      const others = (await lab.virsh(['list', '--all', '--name'])).split('\n').filter((domain) => domain && domain !== lab.domain(machine));
      const onMgmt = await Promise.all(others.map(async (domain) => /\snetwork\s+vmlab-mgmt\s/.test(await lab.virsh(['domiflist', domain]))));
      if (!onMgmt.some(Boolean)) networks.push('vmlab-mgmt');
      else process.stderr.write('[note] vmlab-mgmt left up: another VM on this host uses it\n');
      for (const network of networks) await lab.virsh(['net-destroy', network]);
      expect(await lab.virsh(['domstate', lab.domain(machine)])).toContain('shut off');
      const inactive = async () => (await lab.virsh(['net-list', '--inactive', '--name'])).split('\n').filter(Boolean);
      expect(await inactive()).toEqual(expect.arrayContaining(networks));

      await writeLab(8);
      const shrink = await lab.make(['up']);
      expect(shrink.exitCode).not.toBe(0);
      expect(shrink.stderr).toMatch(/lab\.yaml:\d+:\d+: machines\.box\.disk: 8 GiB is smaller than box's disk of 10 GiB: a disk never shrinks/);
      expect(await lab.virsh(['domstate', lab.domain(machine)])).toContain('shut off');
      expect(await inactive()).toEqual(expect.arrayContaining(networks));

      await writeLab(12);
      const up = await lab.make(['up']);
      expect(up.exitCode, up.all?.slice(-4000)).toBe(0);
      expect(up.all).toContain(`${machine}: disk 10 -> 12 GiB`);
      for (const network of networks) expect(up.all).toContain(`network ${network} is defined but not running (a host reboot?): starting it`);
      expect(await lab.virsh(['domstate', lab.domain(machine)])).toContain('running');
      expect(await inactive()).not.toEqual(expect.arrayContaining(networks.slice(0, 1)));
      const report = await ssh('df -B1G --output=size / | tail -1; findmnt -no FSTYPE /data; cat /data/marker; findmnt -no FSTYPE /home/vagrant/src; ip -4 -o addr show | grep -c 10.78.0.11');
      const [rootGiB, dataType, marker, fsType, address] = report.split('\n').map((line) => line.trim());
      expect(dataType).toBe('ext4');
      expect(Number(rootGiB)).toBeGreaterThanOrEqual(11);
      expect(marker).toBe('kept');
      expect(fsType).toBe('virtiofs');
      expect(address).toBe('1');
      const plan = JSON.parse((await lab.make(['plan', 'JSON=1'])).stdout) as { upToDate: boolean };
      expect(plan.upToDate).toBe(true);
    }, 1_200_000);
  });
}
