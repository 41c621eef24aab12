import { existsSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RealLab } from './real-lab.js';

/** The base lifecycle on one real VM (a boot costs minutes under software emulation, so the steps share it). */
export function lifecycleSuite(): void {
  describe.sequential('real VMs through the make targets', () => {
    const lab = new RealLab('rt');
    const machine = 'vm1';
    beforeAll(() => lab.open());
    const stuck = 'stall1';
    afterAll(() => lab.cleanup([machine, stuck]), 600_000);

    it('setup is idempotent and leaves libvirt answering', async () => {
      const result = await lab.make(['setup']);
      expect(result.exitCode, result.all).toBe(0);
      expect(result.all).toContain('libvirtd: answering');
    }, 900_000);

    it('builds (or takes from the cache) the base image and registers it', async () => {
      const build = await lab.make(['build', 'IMAGE=debian-12']);
      expect(build.exitCode, build.all).toBe(0);
      const images = await lab.images();
      expect(images).toEqual([expect.objectContaining({ name: 'debian-12', kind: 'base', state: 'current' })]);
      expect(images[0]!.sizeBytes).toBeGreaterThan(50 * 2 ** 20);
      const again = await lab.make(['build', 'IMAGE=debian-12']);
      expect(again.all).toContain('image debian-12 is up to date');
    }, 1_200_000);

    it('create-base brings a VM up that answers over ssh', async () => {
      const create = await lab.make(['create-base', `NAME=${machine}`]);
      expect(create.exitCode, create.all?.slice(-3000)).toBe(0);
      expect(await lab.virsh(['domstate', lab.domain(machine)])).toContain('running');
      const ssh = await lab.make(['ssh', `NAME=${machine}`, 'CMD=uname -a; hostname']);
      expect(ssh.exitCode, ssh.all).toBe(0);
      expect(ssh.stdout).toMatch(/Linux .*x86_64/);
      expect(ssh.stdout).toContain(machine);
    }, 1_500_000);

    it('ssh CMD fails when the command fails, with its exit code', async () => {
      const result = await lab.make(['ssh', `NAME=${machine}`, 'CMD=exit 7']);
      expect(result.exitCode).not.toBe(0);
      expect(result.stderr).toContain('Error 7');
    }, 300_000);

    it("the base role's features are baked into its image, and the VM has its own SSH key and host name from the host", async () => {
      const result = await lab.make(['ssh', `NAME=${machine}`, 'CMD=command -v jq curl && systemctl is-enabled qemu-guest-agent systemd-timesyncd && cat ~/.ssh/authorized_keys && hostname']);
      expect(result.exitCode, result.all).toBe(0);
      const key = (await readFile(path.join(lab.env.VMLAB_HOME!, 'keys', `${lab.domain(machine)}.pub`), 'utf8')).trim();
      const lines = result.stdout.trim().split('\n');
      // authorized_keys holds this machine's key alone (not Vagrant's insecure key), then the host name.
      expect(lines.slice(-2)).toEqual([key, machine]);
      expect((await stat(path.join(lab.env.VMLAB_HOME!, 'keys', lab.domain(machine)))).mode & 0o077).toBe(0);
      // Nothing is provisioned at first boot: the Vagrantfile gives the machine no provisioner.
      expect(await readFile(path.join(lab.labDir, 'Vagrantfile'), 'utf8')).not.toContain('machine.vm.provision');
      const images = (await lab.images()).map((image) => [image.name, image.kind]);
      expect(images).toEqual([['base', 'role'], ['debian-12', 'base']]);
    }, 300_000);

    it('list shows the running VM with its IP, from libvirt', async () => {
      const list = JSON.parse((await lab.make(['list', 'JSON=1'])).stdout) as { machines: { name: string; state: string; ip: string | null }[] };
      expect(list.machines).toEqual([expect.objectContaining({ name: machine, state: 'running' })]);
      expect(list.machines[0]!.ip).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
    }, 120_000);

    it('stop shuts it off, start boots it again', async () => {
      expect((await lab.make(['stop', `NAME=${machine}`])).exitCode).toBe(0);
      const stopped = JSON.parse((await lab.make(['list', 'JSON=1'])).stdout) as { machines: { state: string }[] };
      expect(stopped.machines[0]!.state).toBe('shut off');
      const start = await lab.make(['start', `NAME=${machine}`]);
      expect(start.exitCode, start.all?.slice(-3000)).toBe(0);
      expect((await lab.make(['ssh', `NAME=${machine}`, 'CMD=true'])).exitCode).toBe(0);
    }, 1_200_000);

    it('delete leaves no domain and no disk volume', async () => {
      const result = await lab.make(['delete', `NAME=${machine}`, 'YES=1']);
      expect(result.exitCode, result.all).toBe(0);
      expect(await lab.virsh(['list', '--all', '--name'])).not.toContain(lab.domain(machine));
      expect(await lab.virsh(['vol-list', 'default'])).not.toContain(lab.domain(machine));
      expect(await readFile(path.join(lab.env.VMLAB_LAB_DIR!, 'lab.yaml'), 'utf8')).not.toContain(`${machine}:`);
    }, 300_000);

    it('a new VM that libvirt pauses in its first boot: create stops within a minute, names the reason and removes the VM', async () => {
      const domain = lab.domain(stuck);
      let finished = false;
      const create = lab.make(['create-base', `NAME=${stuck}`]).finally(() => {
        finished = true;
      });
      // Pause the domain as soon as it runs, as QEMU does on a disk I/O error; vagrant-libvirt would
      // then wait for an address for about 15 minutes.
      let pausedAt = 0;
      while (!pausedAt && !finished) {
        if ((await lab.virsh(['domstate', domain])).includes('running')) {
          await lab.virsh(['suspend', domain]);
          pausedAt = Date.now();
        } else await sleep(500);
      }
      const result = await create;
      expect(pausedAt, result.all?.slice(-3000)).toBeGreaterThan(0);
      expect((Date.now() - pausedAt) / 1000).toBeLessThan(120);
      expect(result.exitCode).not.toBe(0);
      expect(result.stderr).toContain(`${stuck} did not come up: libvirt paused the VM (user). vmlab stopped vagrant`);
      expect(result.stderr).toContain('removed the new VM; it stays declared in lab.yaml');
      expect(await lab.virsh(['list', '--all', '--name'])).not.toContain(domain);
      expect(await lab.virsh(['vol-list', 'default'])).not.toContain(domain);
      const removed = await lab.make(['delete', `NAME=${stuck}`, 'YES=1']);
      expect(removed.exitCode, removed.all).toBe(0);
    }, 1_200_000);

    it('image-rm removes the box and leaves no pool volume of it (the role image first: a parent with children is refused)', async () => {
      const records = await lab.images();
      expect((await lab.make(['image-rm', 'IMAGE=debian-12', 'YES=1'])).stderr).toMatch(/image debian-12 has child images: base/);
      for (const image of ['base', 'debian-12']) {
        const result = await lab.make(['image-rm', `IMAGE=${image}`, 'YES=1']);
        expect(result.exitCode, result.all).toBe(0);
        expect(existsSync(path.join(lab.env.VMLAB_HOME!, 'images', image))).toBe(false);
      }
      const volumes = await lab.virsh(['vol-list', 'default']);
      const boxes = (await execa('vagrant', ['box', 'list'], { env: { ...lab.env, VAGRANT_CHECKPOINT_DISABLE: '1' } })).stdout;
      for (const record of records) {
        expect(volumes).not.toContain(`${record.box.replace('/', '-VAGRANTSLASH-')}_vagrant_box_image_${record.boxVersion}_`);
        expect(boxes).not.toMatch(new RegExp(`^${record.box} +\\(libvirt, ${record.boxVersion.replaceAll('.', '\\.')}\\)`, 'm'));
      }
      expect(await lab.images()).toEqual([]);
    }, 300_000);
  });
}
