import { cp, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { REPO } from '../support/fakes.js';

/**
 * One real-VM test lab: its own lab folder and registry (VMLAB_HOME), and optionally its own copy of the
 * project (roles, scripts, images) so a test may change a feature script without touching the repository.
 * Everything it creates in libvirt is named vmlab-<id>-*; cleanup() removes it all, first the way a user
 * would, then by name through virsh and vagrant, so that even a broken Vagrantfile leaves nothing behind.
 */
export class RealLab {
  readonly id: string;
  root = '';
  env: Record<string, string> = {};

  constructor(tag: string) {
    this.id = `${tag}${process.pid.toString(36)}`;
  }

  async open(options: { copyProject?: boolean } = {}): Promise<void> {
    this.root = await mkdtemp(`/var/tmp/vmlab-${this.id}-`);
    const labDir = path.join(this.root, 'lab');
    await mkdir(labDir, { recursive: true });
    await writeFile(path.join(labDir, 'lab.yaml'), `# real-VM ring\nname: ${this.id}\nmachines: {}\n`);
    this.env = { ...(process.env as Record<string, string>), VMLAB_LAB_DIR: labDir, VMLAB_HOME: path.join(this.root, 'home'), NO_COLOR: '1' };
    // The run's own box cache (test/support/global-setup.ts), so that no test box is shared with a user's.
    if (process.env.VMLAB_RING3_CACHE) this.env.VMLAB_CACHE = process.env.VMLAB_RING3_CACHE;
    if (options.copyProject) {
      const project = path.join(this.root, 'project');
      for (const entry of ['roles', 'scripts', 'images', 'Vagrantfile.hbs']) await cp(path.join(REPO, entry), path.join(project, entry), { recursive: true });
      this.env.VMLAB_PROJECT_ROOT = project;
    }
  }

  get labDir(): string {
    return path.join(this.root, 'lab');
  }

  get project(): string {
    return this.env.VMLAB_PROJECT_ROOT ?? REPO;
  }

  domain(machine: string): string {
    return `vmlab-${this.id}-${machine}`;
  }

  make(args: string[], extraEnv: Record<string, string> = {}) {
    return execa('make', ['-s', '-C', REPO, ...args], { env: { ...this.env, ...extraEnv }, reject: false, all: true, stdin: 'ignore', timeout: 2_400_000 });
  }

  async virsh(args: string[]): Promise<string> {
    return (await execa('virsh', ['-c', 'qemu:///system', ...args], { reject: false })).stdout;
  }

  async images(): Promise<{ name: string; kind: string; state: string; created: string; boxVersion: string; box: string; sizeBytes: number }[]> {
    return JSON.parse((await this.make(['images', 'JSON=1'])).stdout || '[]');
  }

  async cleanup(machines: string[]): Promise<void> {
    if (!this.root) return;
    for (const machine of machines) await this.make(['delete', `NAME=${machine}`, 'YES=1']);
    const images = await this.images().catch(() => []);
    // Children before parents: image-rm refuses a parent with children, so go round until nothing more goes.
    let remaining = images.map((image) => image.name);
    for (let pass = 0; pass < 5 && remaining.length; pass++) {
      for (const name of remaining) await this.make(['image-rm', `IMAGE=${name}`, 'YES=1']);
      const left = new Set((await this.images().catch(() => [])).map((image) => image.name));
      remaining = remaining.filter((name) => left.has(name));
    }
    const prefix = `vmlab-${this.id}-`;
    for (const name of (await this.virsh(['list', '--all', '--name'])).split('\n').filter((line) => line.startsWith(prefix))) {
      await this.virsh(['destroy', name]);
      await this.virsh(['undefine', name, '--remove-all-storage']);
    }
    const volumes = (await this.virsh(['vol-list', 'default'])).split('\n').map((line) => line.trim().split(/\s+/)[0] ?? '');
    const boxVolume = (volume: string) => images.some((image) => volume.startsWith(`${image.box.replaceAll('/', '-VAGRANTSLASH-')}_vagrant_box_image_${image.boxVersion}_`));
    // A box volume another lab's domain stands on (its disk's backing file) stays: suites that share a box
    // cache share box versions, and deleting it would break that domain's next start.
    const backing = new Set<string>();
    for (const domain of (await this.virsh(['list', '--all', '--name'])).split('\n').filter(Boolean)) {
      for (const source of (await this.virsh(['domblklist', domain, '--details'])).split('\n').map((line) => line.trim().split(/\s+/)[3] ?? '').filter((file) => file.startsWith('/'))) {
        const info = await execa('qemu-img', ['info', '-U', '--output=json', source], { reject: false });
        const file = (JSON.parse(info.stdout || '{}') as { 'backing-filename'?: string })['backing-filename'];
        if (file) backing.add(path.basename(file));
      }
    }
    for (const volume of volumes.filter((name) => name.startsWith(prefix) || (boxVolume(name) && !backing.has(name)))) await this.virsh(['vol-delete', '--pool', 'default', volume]);
    for (const network of (await this.virsh(['net-list', '--all', '--name'])).split('\n').filter((name) => name.startsWith(prefix))) {
      await this.virsh(['net-destroy', network]);
      await this.virsh(['net-undefine', network]);
    }
    // vmlab keeps its management network between VMs; the last lab out takes it, when no domain is on it.
    const domains = (await this.virsh(['list', '--all', '--name'])).split('\n').filter(Boolean);
    const attached = await Promise.all(domains.map((domain) => this.virsh(['domiflist', domain])));
    if (!attached.some((list) => /\snetwork\s+vmlab-mgmt\s/.test(list))) {
      await this.virsh(['net-destroy', 'vmlab-mgmt']);
      await this.virsh(['net-undefine', 'vmlab-mgmt']);
    }
    for (const image of images) {
      await execa('vagrant', ['box', 'remove', image.box, '--provider', 'libvirt', '--box-version', image.boxVersion, '--force'], {
        reject: false,
        env: { ...this.env, VAGRANT_CHECKPOINT_DISABLE: '1' },
      });
    }
    await rm(this.root, { recursive: true, force: true });
  }
}
