import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { RealLab } from './real-lab.js';

interface Identity {
  machineId: string;
  hostname: string;
  hostKey: string;
  marker: string;
}

/**
 * The VM -> image -> VM round trip on real VMs: snapshots, export (with FILE and import), a VM from the
 * exported image, clone, an export killed half way, and gc of planted orphans. The steps share VMs: each
 * boot costs minutes under software emulation.
 */
export function exportSuite(): void {
  describe.sequential('export, clone, snapshots and gc on real VMs', () => {
    const lab = new RealLab('ex');
    const machines = ['src', 'copy', 'twin'];
    const identities = new Map<string, Identity>();
    beforeAll(() => lab.open());
    afterAll(() => lab.cleanup(machines), 900_000);

    const ssh = async (machine: string, command: string) => {
      const result = await lab.make(['ssh', `NAME=${machine}`, `CMD=${command}`]);
      expect(result.exitCode, result.all?.slice(-2000)).toBe(0);
      return result.stdout.trim();
    };
    const identity = async (machine: string): Promise<Identity> => {
      const out = await ssh(machine, 'cat /etc/machine-id; hostname; sudo cat /etc/ssh/ssh_host_ed25519_key.pub | cut -d" " -f2; cat /home/vagrant/marker 2>/dev/null || echo none');
      const [machineId = '', hostname = '', hostKey = '', marker = ''] = out.split('\n').slice(-4);
      return { machineId, hostname, hostKey, marker };
    };
    const macs = async (machine: string): Promise<string[]> => (await lab.virsh(['domiflist', lab.domain(machine)])).match(/([0-9a-f]{2}:){5}[0-9a-f]{2}/g) ?? [];

    it('create-base brings up the source VM, and a marker is written in it', async () => {
      const create = await lab.make(['create-base', 'NAME=src']);
      expect(create.exitCode, create.all?.slice(-3000)).toBe(0);
      await ssh('src', 'echo exported-marker > /home/vagrant/marker');
      identities.set('src', await identity('src'));
      expect(identities.get('src')).toMatchObject({ hostname: 'src', marker: 'exported-marker' });
    }, 1_500_000);

    it('snapshot create -> change -> restore brings the VM back; a label is never overwritten', async () => {
      const snapshot = (...args: string[]) => lab.make(['snapshot', 'NAME=src', ...args]);
      expect((await snapshot('ACTION=create', 'SNAP=before')).exitCode).toBe(0);
      const again = await snapshot('ACTION=create', 'SNAP=before');
      expect(again.exitCode).not.toBe(0);
      expect(again.stderr).toMatch(/snapshot before already exists on src/);
      await ssh('src', 'rm /home/vagrant/marker && touch /home/vagrant/changed');
      // Time passes between the snapshot and its restore: without vmlab setting the clock, the guest would
      // be behind by at least this much.
      await sleep(25_000);
      const list = JSON.parse((await snapshot('ACTION=list', 'JSON=1')).stdout) as { name: string; created: string; state: string }[];
      expect(list).toEqual([expect.objectContaining({ name: 'before', state: 'running' })]);
      expect(Math.abs(Date.parse(list[0]!.created) - Date.now())).toBeLessThan(10 * 60_000);
      const unconfirmed = await snapshot('ACTION=restore', 'SNAP=before');
      expect(unconfirmed.exitCode).not.toBe(0);
      expect(unconfirmed.stderr).toMatch(/not confirmed/);
      const restore = await snapshot('ACTION=restore', 'SNAP=before', 'YES=1');
      expect(restore.exitCode, restore.all).toBe(0);
      expect(await ssh('src', 'cat /home/vagrant/marker; ls /home/vagrant')).toBe('exported-marker\nmarker');
      // The restored memory holds the clock of the snapshot's moment; vmlab sets it from the host's.
      const skew = Math.abs(Number(await ssh('src', 'date +%s')) - Date.now() / 1000);
      expect(skew, `guest clock ${skew.toFixed(0)} s off after the restore`).toBeLessThan(15);
      expect(await lab.virsh(['domstate', lab.domain('src')])).toContain('running');
      expect((await snapshot('ACTION=delete', 'SNAP=before', 'YES=1')).exitCode).toBe(0);
      expect(JSON.parse((await snapshot('ACTION=list', 'JSON=1')).stdout)).toEqual([]);
    }, 600_000);

    it('export halts the VM, writes a verified box, registers a custom image and starts the VM again', async () => {
      const file = path.join(lab.root, 'golden.box');
      const started = Date.now();
      const result = await lab.make(['export', 'NAME=src', 'TARGET=golden', `FILE=${file}`]);
      expect(result.exitCode, result.all?.slice(-4000)).toBe(0);
      process.stderr.write(`[measure] export of src (running, halt and restart included): ${((Date.now() - started) / 1000).toFixed(0)} s\n`);
      expect(result.all).toMatch(/exporting src to image golden: step 3\/5 compress disk: \d+%/);
      // Quiet: the halt is a step line; vagrant's own "==> src: ..." lines went to the machine's log.
      expect(result.all).not.toContain('==> src:');
      const golden = (await lab.images()).find((image) => image.name === 'golden');
      expect(golden).toMatchObject({ kind: 'custom', parent: 'base', role: 'base' });
      const sha = (await execa('sha256sum', [file])).stdout.split(' ')[0];
      expect(sha).toBe((golden as unknown as { sha256: string }).sha256);
      expect((await execa('tar', ['-tf', file])).stdout.split('\n').sort()).toEqual(['Vagrantfile', 'box.img', 'metadata.json', 'vmlab.json']);
      expect(await lab.virsh(['domstate', lab.domain('src')])).toContain('running');
      expect(await readdir(path.join(lab.root, 'home', 'tmp')).catch(() => [])).toEqual([]);
      const again = await lab.make(['export', 'NAME=src', 'TARGET=golden']);
      expect(again.exitCode).not.toBe(0);
      expect(again.stderr).toMatch(/image golden already exists/);
    }, 1_500_000);

    it('a VM created from the exported image has the marker and its own machine-id, hostname and host key', async () => {
      const create = await lab.make(['create-base', 'NAME=copy', 'IMAGE=golden']);
      expect(create.exitCode, create.all?.slice(-3000)).toBe(0);
      const copy = await identity('copy');
      const src = identities.get('src')!;
      expect(copy.marker).toBe('exported-marker');
      expect(copy.hostname).toBe('copy');
      expect(copy.machineId).toMatch(/^[0-9a-f]{32}$/);
      expect(copy.machineId).not.toBe(src.machineId);
      expect(copy.hostKey).not.toBe(src.hostKey);
      identities.set('copy', copy);
      expect(await lab.make(['delete', 'NAME=src', 'YES=1']).then((result) => result.exitCode)).toBe(0);
    }, 1_500_000);

    it('image-import registers the shared box file as another image', async () => {
      const result = await lab.make(['image-import', `FILE=${path.join(lab.root, 'golden.box')}`, 'TARGET=golden-imported']);
      expect(result.exitCode, result.all).toBe(0);
      expect((await lab.images()).find((image) => image.name === 'golden-imported')).toMatchObject({ kind: 'custom', parent: 'base' });
      expect((await lab.make(['image-rm', 'IMAGE=golden-imported', 'YES=1'])).exitCode).toBe(0);
    }, 600_000);

    it('clone makes a VM from the source disk with its own identity, MAC and hostname', async () => {
      await ssh('copy', 'echo cloned-later > /home/vagrant/after-export');
      const result = await lab.make(['clone', 'SOURCE=copy', 'TARGET=twin']);
      expect(result.exitCode, result.all?.slice(-3000)).toBe(0);
      const twin = await identity('twin');
      const copy = identities.get('copy')!;
      expect(twin.marker).toBe('exported-marker');
      expect(await ssh('twin', 'cat /home/vagrant/after-export')).toContain('cloned-later');
      expect(twin.hostname).toBe('twin');
      expect(twin.machineId).not.toBe(copy.machineId);
      expect(twin.hostKey).not.toBe(copy.hostKey);
      const [twinMacs, copyMacs] = [await macs('twin'), await macs('copy')];
      expect(twinMacs.length).toBeGreaterThan(0);
      expect(twinMacs.filter((mac) => copyMacs.includes(mac))).toEqual([]);
      expect(await lab.virsh(['domstate', lab.domain('copy')])).toContain('running');
      const refused = await lab.make(['clone', 'SOURCE=copy', 'TARGET=twin']);
      expect(refused.stderr).toMatch(/a machine named "twin" already exists/);
      expect((await lab.make(['delete', 'NAME=copy', 'YES=1'])).exitCode).toBe(0);
    }, 1_800_000);

    it('an export killed half way registers nothing; the next export clears its leftovers and succeeds', async () => {
      const make = lab.make(['export', 'NAME=twin', 'TARGET=killed']);
      const logs = path.join(lab.root, 'home', 'logs');
      let vmlab: number | undefined;
      for (let i = 0; i < 600 && !vmlab; i++) {
        await sleep(500);
        const log = (await readdir(logs).catch(() => [] as string[])).find((name) => name.startsWith('killed-'));
        const text = log ? await readFile(path.join(logs, log), 'utf8') : '';
        if (text.includes('STEP 3/5')) vmlab = await descendant(make.pid!, (cmdline) => cmdline.includes('bin/vmlab'));
      }
      expect(vmlab, 'the export never reached its compress step').toBeDefined();
      process.kill(vmlab!, 'SIGKILL');
      const killed = await make;
      expect(killed.exitCode).not.toBe(0);
      const work = path.join(lab.root, 'home', 'tmp', `export-killed-${vmlab}`);
      expect(existsSync(work)).toBe(true);
      // The builder it started finishes on its own; only then is the folder free to clear.
      for (let i = 0; i < 600 && (await processesNaming(work)).length; i++) await sleep(500);
      expect((await lab.images()).some((image) => image.name === 'killed')).toBe(false);
      const retry = await lab.make(['export', 'NAME=twin', 'TARGET=killed']);
      expect(retry.exitCode, retry.all?.slice(-3000)).toBe(0);
      expect(retry.all).toContain('cleaning up after an interrupted build');
      expect(existsSync(work)).toBe(false);
      expect((await lab.images()).find((image) => image.name === 'killed')).toMatchObject({ kind: 'custom', parent: 'clone-twin' });
    }, 1_800_000);

    it('a shut-off VM can be snapshotted too, and delete removes a VM that has snapshots with its clone image', async () => {
      expect(await lab.virsh(['domstate', lab.domain('twin')])).toContain('shut off');
      expect((await lab.make(['snapshot', 'NAME=twin', 'ACTION=create', 'SNAP=halted'])).exitCode).toBe(0);
      const list = JSON.parse((await lab.make(['snapshot', 'NAME=twin', 'ACTION=list', 'JSON=1'])).stdout) as { name: string; state: string }[];
      expect(list).toEqual([expect.objectContaining({ name: 'halted', state: 'shutoff' })]);
      const tree = await lab.make(['images', 'TREE=1']);
      expect(tree.stdout).toMatch(/debian-12 +base[^\n]*\n└─ base +role[^\n]*\n {3}└─ golden +custom[^\n]*\n {6}└─ clone-twin +custom[^\n]*machines: twin\n {9}└─ killed +custom/);
      expect((await lab.make(['image-rm', 'IMAGE=killed', 'YES=1'])).exitCode).toBe(0);
      const removed = await lab.make(['delete', 'NAME=twin', 'YES=1']);
      expect(removed.exitCode, removed.all?.slice(-2000)).toBe(0);
      expect(await lab.virsh(['list', '--all', '--name'])).not.toContain(lab.domain('twin'));
      expect((await lab.images()).map((image) => image.name).sort()).toEqual(['base', 'debian-12', 'golden']);
    }, 600_000);

    it('gc lists planted orphans, removes them with YES=1, and nothing else', async () => {
      const id = lab.id;
      const pool = 'default';
      const orphanBoxVolume = `vmlab-VAGRANTSLASH-gcorphan${id}_vagrant_box_image_0.1_box.img`;
      const orphanDisk = `vmlab-${id}-ghost.img`;
      const foreign = `gcforeign-${id}.qcow2`;
      for (const name of [orphanBoxVolume, orphanDisk, foreign]) await lab.virsh(['vol-create-as', pool, name, '1M', '--format', 'qcow2']);
      // gc keeps volumes younger than ten minutes (a vagrant up or a box upload may be under way): age them.
      for (const name of [orphanBoxVolume, orphanDisk]) await execa('touch', ['-d', '1 hour ago', (await lab.virsh(['vol-path', '--pool', pool, name])).trim()]);
      const boxDir = path.join(lab.root, 'orphan-box');
      await execa('mkdir', ['-p', boxDir]);
      await execa('qemu-img', ['create', '-q', '-f', 'qcow2', path.join(boxDir, 'box.img'), '64M']);
      await execa('sh', ['-c', `printf '{"provider":"libvirt","format":"qcow2","virtual_size":1}' > "$1/metadata.json"; : > "$1/Vagrantfile"`, 'sh', boxDir]);
      await execa('tar', ['-C', boxDir, '-cf', path.join(lab.root, 'orphan.box'), 'metadata.json', 'Vagrantfile', 'box.img']);
      const orphanBox = `vmlab/gcorphan${id}`;
      await execa('vagrant', ['box', 'add', '--name', orphanBox, '--provider', 'libvirt', path.join(lab.root, 'orphan.box')], { env: { ...lab.env, VAGRANT_CHECKPOINT_DISABLE: '1' } });
      const gone = execa('true');
      const dead = gone.pid!;
      await gone;
      const deadWork = path.join(lab.root, 'home', 'tmp', `export-lost-${dead}`);
      await execa('mkdir', ['-p', deadWork]);
      // The box store keeps a box younger than ten minutes (a build adds it before it writes the registry).
      await execa('sh', ['-c', 'find "$1" -exec touch -d "1 hour ago" {} +', 'sh', path.join(process.env.HOME ?? '/root', '.vagrant.d', 'boxes', orphanBox.replace('/', '-VAGRANTSLASH-'))]);

      const planted = [orphanBoxVolume, orphanDisk, orphanBox, `export-lost-${dead}`];
      const imagesBefore = await lab.images();
      onTestFinished(async () => {
        for (const name of [orphanBoxVolume, orphanDisk, foreign]) await lab.virsh(['vol-delete', '--pool', pool, name]);
        await execa('vagrant', ['box', 'remove', orphanBox, '--all', '--force'], { reject: false, env: { ...lab.env, VAGRANT_CHECKPOINT_DISABLE: '1' } });
      });
      const listing = await lab.make(['gc', 'JSON=1']);
      expect(listing.exitCode, listing.all).toBe(0);
      const items = JSON.parse(listing.stdout) as { kind: string; name: string; remove: boolean }[];
      for (const name of planted) expect(items.find((item) => item.name.includes(name)), name).toMatchObject({ remove: true });
      expect(items.some((item) => item.name.includes(foreign) || item.name.includes('golden') || item.name.includes('debian-12'))).toBe(false);
      expect(await lab.virsh(['vol-list', pool])).toContain(orphanDisk);

      const removal = await lab.make(['gc', 'YES=1']);
      expect(removal.exitCode, removal.all).toBe(0);
      const volumes = await lab.virsh(['vol-list', pool]);
      expect(volumes).not.toContain(orphanBoxVolume);
      expect(volumes).not.toContain(orphanDisk);
      expect(volumes).toContain(foreign);
      expect((await execa('vagrant', ['box', 'list'], { env: { ...lab.env, VAGRANT_CHECKPOINT_DISABLE: '1' } })).stdout).not.toContain(orphanBox);
      expect(existsSync(deadWork)).toBe(false);
      expect(await lab.images()).toEqual(imagesBefore);
      const boxes = (await execa('vagrant', ['box', 'list'], { env: { ...lab.env, VAGRANT_CHECKPOINT_DISABLE: '1' } })).stdout;
      // `vagrant box list` pads the names into a column: match any run of spaces before the provider.
      for (const image of imagesBefore) expect(boxes).toMatch(new RegExp(`^${escapeRegExp(image.box)} +\\(libvirt, ${escapeRegExp(image.boxVersion)}\\)$`, 'm'));
    }, 600_000);
  });
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** A process below `root` (by parent pid) whose command line matches. */
async function descendant(root: number, match: (cmdline: string) => boolean): Promise<number | undefined> {
  const parents = new Map<number, number>();
  const lines = new Map<number, string>();
  for (const entry of (await readdir('/proc')).filter((name) => /^\d+$/.test(name))) {
    const stat = await readFile(`/proc/${entry}/stat`, 'utf8').catch(() => '');
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    parents.set(Number(entry), ppid);
    lines.set(Number(entry), (await readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '')).replaceAll('\0', ' '));
  }
  const below = (pid: number): boolean => {
    for (let current = parents.get(pid); current && current > 1; current = parents.get(current)) if (current === root) return true;
    return false;
  };
  return [...lines.entries()].find(([pid, cmdline]) => below(pid) && match(cmdline))?.[0];
}

async function processesNaming(text: string): Promise<number[]> {
  const found: number[] = [];
  for (const entry of (await readdir('/proc')).filter((name) => /^\d+$/.test(name))) {
    if ((await readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '')).includes(text)) found.push(Number(entry));
  }
  return found;
}
