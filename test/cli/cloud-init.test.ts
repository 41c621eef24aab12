import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadImageDefinition } from '../../src/images/load-images.js';
import { existsSync } from 'node:fs';
import { symlink } from 'node:fs/promises';
import { healthChecks, hostReadings, libvirtUp, noDomains, REPO, Sandbox, URI } from '../support/fakes.js';

let sandbox: Sandbox;
beforeEach(async () => {
  sandbox = await Sandbox.create();
  await sandbox.seedImages();
  await sandbox.plan([]);
});
afterEach(async () => sandbox.cleanup());

async function labWithUserData(userData: string): Promise<void> {
  await writeFile(path.join(sandbox.labDir, 'web.yaml'), userData);
  await writeFile(path.join(sandbox.labDir, 'lab.yaml'), 'name: lab\nmachines:\n  web:\n    role: base\n    image: ubuntu-24.04\n    cloudInit: web.yaml\n');
}

describe('cloudInit: user-data per machine (lab.yaml)', () => {
  it.each([
    ['not #cloud-config', 'packages: [tree]\n', /web\.yaml:1:1: the first line must be exactly "#cloud-config", not "packages: \[tree\]"/],
    ['a script', '#!/bin/sh\necho hi\n', /web\.yaml:1:1: this is a script \(#!\); vmlab takes #cloud-config user-data only/],
    ['not YAML', '#cloud-config\npackages:\n  - tree\n write_files: [\n', /web\.yaml:4:\d+: not valid YAML/],
    ['a list where a mapping belongs', '#cloud-config\n- tree\n', /web\.yaml:2:1: user-data is a mapping of cloud-config modules/],
    ['packages not a list', '#cloud-config\npackages: tree\n', /web\.yaml:2:11: packages: packages: is a list/],
    ['an unknown placeholder', '#cloud-config\nhostname: {{ nmae }}\n', /web\.yaml:2:11: unknown placeholder \{\{ nmae \}\}; known: \{\{ name \}\}, \{\{ address \}\}/],
  ])('%s is refused with its line, before anything changes', async (_what, userData, message) => {
    await labWithUserData(userData);
    const before = await sandbox.snapshot();
    const result = await sandbox.make(['up']);
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toMatch(message);
    expect(result.stderr).toMatch(/Fix the user-data of machine web \(cloudInit: in lab\.yaml\)/);
    expect(await sandbox.snapshot()).toEqual(before);
    expect(await sandbox.calls()).toEqual([]);
  });

  it('on a machine whose image has no cloud-init, it is refused before anything changes', async () => {
    await writeFile(path.join(sandbox.labDir, 'web.yaml'), '#cloud-config\n');
    await writeFile(path.join(sandbox.labDir, 'lab.yaml'), 'name: lab\nmachines:\n  web:\n    role: base\n    image: debian-12\n    cloudInit: web.yaml\n');
    await sandbox.plan([libvirtUp, noDomains, ...hostReadings]);
    const before = await sandbox.snapshot();
    const result = await sandbox.make(['up']);
    expect(result.exitCode).not.toBe(0);
    expect(result.stderr).toMatch(/machine web has cloudInit: web\.yaml, but its image debian-12 does not run cloud-init\. Nothing was changed\./);
    expect(result.stderr).toMatch(/such as image: ubuntu-24\.04/);
    expect(await sandbox.snapshot()).toEqual(before);
    expect((await sandbox.calls()).filter((call) => call.tool === 'vagrant')).toEqual([]);
  });

  it("a missing user-data file is refused at its lab.yaml line", async () => {
    await writeFile(path.join(sandbox.labDir, 'lab.yaml'), 'name: lab\nmachines:\n  web:\n    role: base\n    cloudInit: nosuch.yaml\n');
    const before = await sandbox.snapshot();
    const result = await sandbox.cli(['render']);
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toMatch(/lab\.yaml:5:16: machines\.web\.cloudInit: cannot read .*nosuch\.yaml: no such file/);
    expect(await sandbox.snapshot()).toEqual(before);
  });

  it('good user-data passes the checks and renders nothing extra for a machine without a seed yet', async () => {
    await labWithUserData('#cloud-config\nwrite_files:\n  - path: /etc/motd\n    content: "{{ name }} of {{ lab }} at {{ address }}"\n');
    const result = await sandbox.cli(['render']);
    expect(result.exitCode, result.stderr).toBe(0);
    expect(await sandbox.readVagrantfile()).not.toContain('cdrom');
  });
});

describe("a machine's seed in the Vagrantfile", () => {
  it('is attached as a cdrom, and a first provisioner waits for cloud-init to finish', async () => {
    await labWithUserData('#cloud-config\n');
    await mkdir(path.join(sandbox.home, 'cloud-init'), { recursive: true });
    await writeFile(path.join(sandbox.home, 'cloud-init', 'vmlab-lab-web.seed'), '/var/lib/libvirt/images/vmlab-lab-web-cidata.iso\n');
    const result = await sandbox.cli(['render']);
    expect(result.exitCode, result.stderr).toBe(0);
    const vagrantfile = (await sandbox.readVagrantfile()) ?? '';
    expect(vagrantfile).toContain("libvirt.storage :file, :device => :cdrom, :path => '/var/lib/libvirt/images/vmlab-lab-web-cidata.iso'");
    const shells = [...vagrantfile.matchAll(/machine\.vm\.provision '([^']+)', type: "shell"/g)].map((match) => match[1]);
    expect(shells).toEqual(['vmlab-cloud-init', 'feature-essentials', 'feature-guest-agent', 'feature-time-sync']);
    expect(vagrantfile).toMatch(/machine\.vm\.provision 'vmlab-cloud-init', type: "shell", path: '.*scripts\/lab\/cloud-init-wait\.sh'/);
  });
});

describe.skipIf(!existsSync('/usr/bin/xorriso'))('make up of a machine on a cloud image', () => {
  it('makes its key and its seed (xorriso, uploaded into the pool) before vagrant up, and attaches it', async () => {
    const index = path.join(sandbox.home, 'images/index.json');
    const registry = JSON.parse(await (await import('node:fs/promises')).readFile(index, 'utf8'));
    registry.images.cloud = { ...registry.images['debian-12'], name: 'cloud', box: 'vmlab/cloud', file: 'cloud.box', source: 'qcow2 https://x/cloud.img', features: ['cloud-init'] };
    await writeFile(index, JSON.stringify(registry));
    await writeFile(path.join(sandbox.labDir, 'web.yaml'), '#cloud-config\npackages: [tree]\n');
    await writeFile(path.join(sandbox.labDir, 'lab.yaml'), 'name: lab\nmachines:\n  web:\n    role: base\n    image: cloud\n    cloudInit: web.yaml\n');
    await symlink('/usr/bin/xorriso', path.join(sandbox.binDir, 'xorriso'));
    await sandbox.plan([
      libvirtUp,
      noDomains,
      ...hostReadings,
      { tool: 'virsh', args: [...URI, 'vol-delete', '--pool', 'default', 'vmlab-lab-web-cidata.iso'], exitCode: 1, stderr: 'error: Storage volume not found' },
      { tool: 'virsh', args: [...URI, 'vol-create-as', 'default', 'vmlab-lab-web-cidata.iso', '*', '--format', 'raw'] },
      { tool: 'virsh', args: [...URI, 'vol-upload', '--pool', 'default', 'vmlab-lab-web-cidata.iso', '*'] },
      { tool: 'vagrant', args: ['up', 'web', '--provider=libvirt'] },
      healthChecks('web', 3),
    ]);
    const result = await sandbox.make(['up']);
    expect(result.exitCode, result.stderr).toBe(0);
    await sandbox.expectPlanDone();
    const vagrantfile = (await sandbox.readVagrantfile()) ?? '';
    expect(vagrantfile).toContain("libvirt.storage :file, :device => :cdrom, :path => '/var/lib/libvirt/images/vmlab-lab-web-cidata.iso'");
    // The machine's own key, as for debian-12's machines: no Vagrant key swap, no hostname round trip.
    expect(vagrantfile).toContain('machine.ssh.insert_key = false');
    expect(vagrantfile).not.toContain('machine.vm.hostname');
    expect(existsSync(path.join(sandbox.home, 'keys', 'vmlab-lab-web.pub'))).toBe(true);
  });
});

describe('images/ubuntu-24.04.yaml', () => {
  it("is Canonical's noble cloud image from a dated release, with its pinned sha256", async () => {
    const image = await loadImageDefinition(REPO, 'ubuntu-24.04', {});
    expect(image?.definition.source).toEqual({
      type: 'qcow2',
      url: 'https://cloud-images.ubuntu.com/releases/noble/release-20250430/ubuntu-24.04-server-cloudimg-amd64.img',
      sha256: 'bc471ca49de03b5129c65b70f9862b7f4b5e721622fd34ade78132f6f7999e2d',
      cloudInit: true,
      guest: 'ubuntu',
    });
  });

  it('a dry-run build says where it downloads to and what it checks, and changes nothing', async () => {
    const before = await sandbox.snapshot();
    const downloads = path.join(sandbox.root, 'downloads');
    const result = await sandbox.cli(['build', 'ubuntu-24.04', '--dry-run'], { VMLAB_DOWNLOADS: downloads });
    expect(result.stdout).toContain(
      `download https://cloud-images.ubuntu.com/releases/noble/release-20250430/ubuntu-24.04-server-cloudimg-amd64.img to ${downloads}/bc471ca49de03b5129c65b70f9862b7f4b5e721622fd34ade78132f6f7999e2d.img (unless it is there with sha256 bc471ca49de03b5129c65b70f9862b7f4b5e721622fd34ade78132f6f7999e2d)`,
    );
    expect(result.stdout).toMatch(/qemu-img convert -f <format> -O qcow2 -c .*bc471ca4.*\.img/);
    expect(await sandbox.snapshot()).toEqual(before);
  });
});
