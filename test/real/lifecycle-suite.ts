import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO } from '../support/fakes.js';
import { REAL_REQUIRED, realHostProblem } from '../support/real-host.js';

/**
 * Ring 3: real Vagrant + vagrant-libvirt + libvirtd + QEMU, driven through the make targets exactly as a
 * user types them. One VM is shared by the steps (a boot costs minutes under software emulation).
 * Everything it makes is named vmlab-rt<id>-* and removed at the end, whatever happened.
 */
const problem = await realHostProblem();
if (problem) process.stderr.write(`\n*** real-VM tests skipped: ${problem}: run make setup (as root) ***\n\n`);

const id = `rt${process.pid.toString(36)}`;
const machine = 'vm1';
const domain = `vmlab-${id}-${machine}`;
let root: string;
let env: Record<string, string>;

const make = (args: string[]) =>
  execa('make', ['-s', '-C', REPO, ...args], { env, reject: false, all: true, stdin: 'ignore', timeout: 1_500_000 });
const virsh = async (args: string[]) => (await execa('virsh', ['-c', 'qemu:///system', ...args], { reject: false })).stdout;

async function removeByName(domainPrefix: string, boxVersion: string | undefined): Promise<void> {
  for (const name of (await virsh(['list', '--all', '--name'])).split('\n').filter((line) => line.startsWith(domainPrefix))) {
    await virsh(['destroy', name]);
    await virsh(['undefine', name, '--remove-all-storage']);
  }
  const volumes = (await virsh(['vol-list', 'default'])).split('\n').map((line) => line.trim().split(/\s+/)[0] ?? '');
  const ours = (volume: string) =>
    volume.startsWith(domainPrefix) || (boxVersion !== undefined && volume.startsWith(`vmlab-VAGRANTSLASH-debian-12_vagrant_box_image_${boxVersion}_`));
  for (const volume of volumes.filter(ours)) await virsh(['vol-delete', '--pool', 'default', volume]);
  if (boxVersion) {
    await execa('vagrant', ['box', 'remove', 'vmlab/debian-12', '--provider', 'libvirt', '--box-version', boxVersion, '--force'], {
      reject: false,
      env: { ...env, VAGRANT_CHECKPOINT_DISABLE: '1' },
    });
  }
}

describe.runIf(REAL_REQUIRED && problem)('real-VM ring', () => {
  it('is required (VMLAB_REAL=required) but the host is not ready', () => {
    expect.fail(`real-VM tests required but ${problem}: run make setup`);
  });
});

describe.skipIf(Boolean(problem)).sequential('real VMs through the make targets', () => {
  beforeAll(async () => {
    root = await mkdtemp(`/var/tmp/vmlab-${id}-`);
    env = {
      ...(process.env as Record<string, string>),
      VMLAB_LAB_DIR: path.join(root, 'lab'),
      VMLAB_HOME: path.join(root, 'home'),
      NO_COLOR: '1',
    };
    await execa('mkdir', ['-p', env.VMLAB_LAB_DIR!]);
    await writeFile(path.join(env.VMLAB_LAB_DIR!, 'lab.yaml'), `# real-VM ring\nname: ${id}\nmachines: {}\n`);
  });

  afterAll(async () => {
    if (!env) return;
    // Whatever a failed step left: first the way a user would, then straight through libvirt and Vagrant,
    // by the names this run gave its objects, so that even a broken Vagrantfile leaves nothing behind.
    await execa('make', ['-s', '-C', REPO, 'delete', `NAME=${machine}`, 'YES=1'], { env, reject: false });
    const record = JSON.parse((await make(['images', 'JSON=1'])).stdout || '[]')[0] as { boxVersion?: string } | undefined;
    await execa('make', ['-s', '-C', REPO, 'image-rm', 'IMAGE=debian-12', 'YES=1'], { env, reject: false });
    await removeByName(`vmlab-${id}-`, record?.boxVersion);
    await rm(root, { recursive: true, force: true });
  }, 600_000);

  it('setup is idempotent and leaves libvirt answering', async () => {
    const result = await make(['setup']);
    expect(result.exitCode, result.all).toBe(0);
    expect(result.all).toContain('libvirtd: answering');
  }, 900_000);

  it('builds (or takes from the cache) the base image and registers it', async () => {
    const build = await make(['build', 'IMAGE=debian-12']);
    expect(build.exitCode, build.all).toBe(0);
    const images = JSON.parse((await make(['images', 'JSON=1'])).stdout) as { name: string; kind: string; sizeBytes: number }[];
    expect(images).toEqual([expect.objectContaining({ name: 'debian-12', kind: 'base' })]);
    expect(images[0]!.sizeBytes).toBeGreaterThan(50 * 2 ** 20);
    const again = await make(['build', 'IMAGE=debian-12']);
    expect(again.all).toContain('image debian-12 is up to date');
  }, 1_200_000);

  it('create-base brings a VM up that answers over ssh', async () => {
    const create = await make(['create-base', `NAME=${machine}`]);
    expect(create.exitCode, create.all?.slice(-3000)).toBe(0);
    expect(await virsh(['domstate', domain])).toContain('running');
    const ssh = await make(['ssh', `NAME=${machine}`, 'CMD=uname -a; hostname']);
    expect(ssh.exitCode, ssh.all).toBe(0);
    expect(ssh.stdout).toMatch(/Linux .*x86_64/);
    expect(ssh.stdout).toContain(machine);
  }, 1_500_000);

  it('ssh CMD fails when the command fails, with its exit code', async () => {
    const result = await make(['ssh', `NAME=${machine}`, 'CMD=exit 7']);
    expect(result.exitCode).not.toBe(0);
    expect(result.stderr).toContain('Error 7');
  }, 300_000);

  it('the base role features ran at first boot', async () => {
    const result = await make(['ssh', `NAME=${machine}`, 'CMD=command -v jq curl && systemctl is-enabled qemu-guest-agent systemd-timesyncd']);
    expect(result.exitCode, result.all).toBe(0);
  }, 300_000);

  it('list shows the running VM with its IP, from libvirt', async () => {
    const list = JSON.parse((await make(['list', 'JSON=1'])).stdout) as { machines: { name: string; state: string; ip: string | null }[] };
    expect(list.machines).toEqual([expect.objectContaining({ name: machine, state: 'running' })]);
    expect(list.machines[0]!.ip).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
  }, 120_000);

  it('stop shuts it off, start boots it again', async () => {
    expect((await make(['stop', `NAME=${machine}`])).exitCode).toBe(0);
    const stopped = JSON.parse((await make(['list', 'JSON=1'])).stdout) as { machines: { state: string }[] };
    expect(stopped.machines[0]!.state).toBe('shut off');
    const start = await make(['start', `NAME=${machine}`]);
    expect(start.exitCode, start.all?.slice(-3000)).toBe(0);
    expect((await make(['ssh', `NAME=${machine}`, 'CMD=true'])).exitCode).toBe(0);
  }, 1_200_000);

  it('delete leaves no domain and no disk volume', async () => {
    const result = await make(['delete', `NAME=${machine}`, 'YES=1']);
    expect(result.exitCode, result.all).toBe(0);
    expect(await virsh(['list', '--all', '--name'])).not.toContain(domain);
    expect(await virsh(['vol-list', 'default'])).not.toContain(domain);
    expect(await readFile(path.join(env.VMLAB_LAB_DIR!, 'lab.yaml'), 'utf8')).not.toContain(`${machine}:`);
  }, 300_000);

  it('image-rm removes the box and leaves no pool volume of it', async () => {
    const record = JSON.parse((await make(['images', 'JSON=1'])).stdout)[0] as { boxVersion: string };
    const result = await make(['image-rm', 'IMAGE=debian-12', 'YES=1']);
    expect(result.exitCode, result.all).toBe(0);
    expect(await virsh(['vol-list', 'default'])).not.toContain(`vmlab-VAGRANTSLASH-debian-12_vagrant_box_image_${record.boxVersion}_`);
    const boxes = (await execa('vagrant', ['box', 'list'], { env: { ...env, VAGRANT_CHECKPOINT_DISABLE: '1' } })).stdout;
    expect(boxes).not.toContain(record.boxVersion);
    expect(JSON.parse((await make(['images', 'JSON=1'])).stdout)).toEqual([]);
    expect(existsSync(path.join(env.VMLAB_HOME!, 'images', 'debian-12'))).toBe(false);
  }, 300_000);
});
