import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type PlannedCall, Sandbox } from '../support/fakes.js';

/*
 * export, image-import and clone against the fake tools: every refusal changes nothing and runs nothing,
 * a dry run shows the whole plan, and an imported box is checked and registered with its lineage.
 * The export itself (a real disk through scripts/image/export-disk.sh) runs in the real ring.
 */
const URI = ['-c', 'qemu:///system'];
const libvirtUp: PlannedCall = { tool: 'virsh', args: [...URI, 'version'], stdout: 'Running hypervisor: QEMU 7.2.0\n', repeat: true };
const domains = (rows: string): PlannedCall => ({ tool: 'virsh', args: [...URI, 'list', '--all'], stdout: ` Id   Name   State\n--------------------\n${rows}\n`, repeat: true });
const WEB_DISK = '/var/lib/libvirt/images/vmlab-lab-web.img';

/** make exits 2 whenever a recipe fails; the CLI's own exit code is in make's "Error N" line. */
function expectFailure(result: { exitCode?: number; stderr: string }, code: number): void {
  expect(result.exitCode, result.stderr).toBe(2);
  expect(result.stderr).toContain(`Error ${code}`);
}

/** A refusal: the CLI's exit code and message, no external program run, lab.yaml and the registry as they were. */
async function expectRefusedUnchanged(args: string[], code: number, message: RegExp): Promise<void> {
  const before = await sandbox.snapshot();
  const result = await sandbox.make(args);
  expectFailure(result, code);
  expect(result.stderr).toMatch(message);
  expect(await sandbox.snapshot()).toEqual(before);
  expect(await sandbox.calls()).toEqual([]);
}

let sandbox: Sandbox;
beforeEach(async () => {
  sandbox = await Sandbox.create();
  await sandbox.seedImages();
  await writeFile(path.join(sandbox.labDir, 'lab.yaml'), 'name: lab\nmachines:\n  web:\n    role: docker\n');
});
afterEach(async () => sandbox.cleanup());

async function addCustomImage(name: string, parent: string): Promise<void> {
  const file = path.join(sandbox.home, 'images/index.json');
  const index = JSON.parse(await readFile(file, 'utf8'));
  index.images[name] = { ...index.images.docker, name, kind: 'custom', parent, source: 'export of web', file: `${name}.box`, box: `vmlab/${name}` };
  await writeFile(file, JSON.stringify(index, null, 2));
}

describe('make export', () => {
  it.each([
    { case: 'no NAME', args: ['export', 'TARGET=golden'], code: 2, message: /export needs NAME/ },
    { case: 'no TARGET', args: ['export', 'NAME=web'], code: 2, message: /export needs TARGET.*\n.*make export NAME=web TARGET=web-golden/ },
    { case: 'a TARGET that a recipe builds', args: ['export', 'NAME=web', 'TARGET=docker'], code: 2, message: /image docker is built by vmlab from its recipe/ },
    { case: 'a TARGET with shell characters', args: ['export', 'NAME=web', 'TARGET=x; touch pwned'], code: 2, message: /invalid image name "x; touch pwned"/ },
    { case: 'an unknown machine', args: ['export', 'NAME=nosuch', 'TARGET=golden'], code: 2, message: /no machine named "nosuch"/ },
    { case: 'FILE in a folder that does not exist', args: ['export', 'NAME=web', 'TARGET=golden', 'FILE=/nonexistent/dir/golden.box'], code: 2, message: /folder \/nonexistent\/dir does not exist/ },
  ])('$case is refused and changes nothing', async ({ args, code, message }) => {
    await expectRefusedUnchanged(args, code, message);
    expect(existsSync(path.join(sandbox.labDir, 'pwned'))).toBe(false);
  });

  it('an existing TARGET is refused without FORCE=1, naming the way to replace it', async () => {
    await addCustomImage('golden', 'docker');
    const before = await sandbox.snapshot();
    const result = await sandbox.make(['export', 'NAME=web', 'TARGET=golden']);
    expectFailure(result, 1);
    expect(result.stderr).toMatch(/image golden already exists \(custom, export of web.*\n.*make export NAME=web TARGET=golden FORCE=1/);
    expect(await sandbox.snapshot()).toEqual(before);
    expect(await sandbox.calls()).toEqual([]);
  });

  it('FORCE=1 still refuses to replace an image that other images stand on', async () => {
    await addCustomImage('golden', 'docker');
    await addCustomImage('golden-child', 'golden');
    const result = await sandbox.make(['export', 'NAME=web', 'TARGET=golden', 'FORCE=1']);
    expectFailure(result, 1);
    expect(result.stderr).toMatch(/image golden cannot be replaced: images stand on it: golden-child/);
  });

  it('a machine without a VM in libvirt is refused before anything is halted', async () => {
    await sandbox.plan([libvirtUp, domains('')]);
    const before = await sandbox.snapshot();
    const result = await sandbox.make(['export', 'NAME=web', 'TARGET=golden']);
    expectFailure(result, 1);
    expect(result.stderr).toMatch(/web is declared but has no VM in libvirt.*\n.*make start NAME=web/);
    expect(await sandbox.snapshot()).toEqual(before);
    await sandbox.expectPlanDone();
  });

  it('DRY_RUN=1 shows the halt, the export script and the box add, and changes nothing', async () => {
    await sandbox.plan([
      libvirtUp,
      domains(' 1    vmlab-lab-web   running\n'),
      { tool: 'virsh', args: [...URI, 'domblklist', 'vmlab-lab-web', '--details'], stdout: ` Type   Device   Target   Source\n----------------------------------\n file   disk     vda      ${WEB_DISK}\n` },
    ]);
    const before = await sandbox.snapshot();
    const result = await sandbox.make(['export', 'NAME=web', 'TARGET=golden', 'DRY_RUN=1']);
    expect(result.exitCode, result.stderr).toBe(0);
    const lines = result.stdout.split('\n');
    expect(lines[0]).toBe('vagrant halt web');
    expect(result.stdout).toMatch(new RegExp(`bash \\S+/scripts/image/export-disk.sh --disk ${WEB_DISK} --out \\S+/tmp/export-golden-\\d+/golden-0\\.\\d{14}\\.box`));
    expect(result.stdout).toContain('--extra');
    expect(result.stdout).toMatch(/vagrant box add --provider libvirt <catalog of vmlab\/golden 0\.\d{14}\.<checksum>>/);
    expect(await sandbox.snapshot()).toEqual(before);
    await sandbox.expectPlanDone();
  });

  it('VMLAB_EXPORT_SYSPREP chooses how the identity is removed; anything else is refused', async () => {
    const plan = [
      libvirtUp,
      domains(' -    vmlab-lab-web   shut off\n'),
      { tool: 'virsh' as const, args: [...URI, 'domblklist', 'vmlab-lab-web', '--details'], stdout: ` Type   Device   Target   Source\n----------------------------------\n file   disk     vda      ${WEB_DISK}\n`, repeat: true },
    ];
    await sandbox.plan(plan);
    const builtin = await sandbox.make(['export', 'NAME=web', 'TARGET=golden', 'DRY_RUN=1'], { VMLAB_EXPORT_SYSPREP: 'builtin' });
    expect(builtin.exitCode, builtin.stderr).toBe(0);
    expect(builtin.stdout).toMatch(/export-disk\.sh .* --sysprep builtin$/m);
    const bad = await sandbox.make(['export', 'NAME=web', 'TARGET=golden', 'DRY_RUN=1'], { VMLAB_EXPORT_SYSPREP: 'magic' });
    expect(bad.exitCode).not.toBe(0);
    expect(bad.stderr).toContain('VMLAB_EXPORT_SYSPREP must be auto, builtin or virt-sysprep, got "magic"');
  });
});

describe('make image-import', () => {
  async function makeBox(files: Record<string, string>): Promise<string> {
    const dir = path.join(sandbox.root, 'box-src');
    await mkdir(dir, { recursive: true });
    for (const [name, text] of Object.entries(files)) await writeFile(path.join(dir, name), text);
    const box = path.join(sandbox.root, 'shared.box');
    await execa('tar', ['-C', dir, '-cf', box, ...Object.keys(files)]);
    return box;
  }

  const lineage = { format: 1, name: 'golden', parent: 'docker', role: 'docker', features: ['essentials', 'docker'], exportedFrom: { machine: 'web', lab: 'other' }, created: '2026-11-21T10:00:00.000Z' };

  it('checks the disk and registers the box as a custom image with the lineage it carries', async () => {
    const box = await makeBox({ 'metadata.json': '{"provider":"libvirt","format":"qcow2","virtual_size":8}', Vagrantfile: '', 'box.img': 'QFI\u00fb fake disk', 'vmlab.json': JSON.stringify(lineage) });
    await sandbox.plan([
      libvirtUp,
      { tool: 'qemu-img', args: ['check', '*'], stdout: 'No errors were found on the image.\n' },
      { tool: 'qemu-img', args: ['info', '--output=json', '*'], stdout: JSON.stringify({ format: 'qcow2', 'virtual-size': 8 * 2 ** 30 }) },
      { tool: 'vagrant', args: ['box', 'add', '--provider', 'libvirt', '*'] },
    ]);
    const result = await sandbox.make(['image-import', `FILE=${box}`, 'TARGET=golden']);
    expect(result.exitCode, result.stderr).toBe(0);
    expect(result.stderr).toMatch(/imported .*shared\.box as image golden \(0 MiB, parent docker\)/);
    const images = JSON.parse((await sandbox.make(['images', 'JSON=1'])).stdout) as { name: string; kind: string; parent: string; role: string; features: string[]; file: string }[];
    const golden = images.find((image) => image.name === 'golden');
    expect(golden).toMatchObject({ kind: 'custom', parent: 'docker', role: 'docker', features: ['essentials', 'docker'] });
    expect(existsSync(path.join(sandbox.home, 'images/golden', golden!.file))).toBe(true);
    expect(existsSync(box)).toBe(true);
    expect(existsSync(path.join(sandbox.home, 'tmp')) ? await import('node:fs/promises').then((fs) => fs.readdir(path.join(sandbox.home, 'tmp'))) : []).toEqual([]);
    await sandbox.expectPlanDone();

    await sandbox.plan([]);
    const again = await sandbox.make(['image-import', `FILE=${box}`, 'TARGET=golden']);
    expectFailure(again, 1);
    expect(again.stderr).toMatch(/image golden already exists/);
  });

  it('a box whose disk fails qemu-img check registers nothing and leaves no temp files', async () => {
    const box = await makeBox({ 'metadata.json': '{"provider":"libvirt"}', 'box.img': 'broken' });
    await sandbox.plan([libvirtUp, { tool: 'qemu-img', args: ['check', '*'], exitCode: 2, stdout: 'ERROR cluster 5 refcount=0 reference=1\n2 errors were found on the image.\n' }]);
    const before = await sandbox.snapshot();
    const result = await sandbox.make(['image-import', `FILE=${box}`, 'TARGET=golden']);
    expectFailure(result, 1);
    expect(result.stderr).toMatch(/its disk fails qemu-img check: 2 errors were found/);
    const after = await sandbox.snapshot();
    expect(Object.keys(after).filter((key) => !key.startsWith('home/logs') && !key.startsWith('home/tmp'))).toEqual(Object.keys(before));
    expect(await import('node:fs/promises').then((fs) => fs.readdir(path.join(sandbox.home, 'tmp')).catch(() => []))).toEqual([]);
  });

  it.each([
    { case: 'a box for another provider', files: { 'metadata.json': '{"provider":"virtualbox"}', 'box.img': 'x' }, message: /a box for provider "virtualbox", not libvirt/ },
    { case: 'a tar without a disk', files: { 'metadata.json': '{"provider":"libvirt"}' }, message: /has no box\.img; it is not a libvirt Vagrant box/ },
  ])('$case is refused and changes nothing', async ({ files, message }) => {
    const box = await makeBox(files as Record<string, string>);
    const before = await sandbox.snapshot();
    const result = await sandbox.make(['image-import', `FILE=${box}`, 'TARGET=golden']);
    expectFailure(result, 1);
    expect(result.stderr).toMatch(message);
    expect(await sandbox.snapshot()).toEqual(before);
    expect(await sandbox.calls()).toEqual([]);
  });

  it('a file that is not a box is refused', async () => {
    const file = path.join(sandbox.root, 'notes.txt');
    await writeFile(file, 'hello\n');
    const result = await sandbox.make(['image-import', `FILE=${file}`, 'TARGET=golden']);
    expectFailure(result, 1);
    expect(result.stderr).toMatch(/notes\.txt is not a readable box/);
  });
});

describe('make clone', () => {
  it.each([
    { case: 'no TARGET', args: ['clone', 'SOURCE=web'], code: 2, message: /clone needs SOURCE .* and TARGET/ },
    { case: 'an unknown SOURCE', args: ['clone', 'SOURCE=nosuch', 'TARGET=web2'], code: 2, message: /no machine named "nosuch"/ },
    { case: 'a TARGET that exists', args: ['clone', 'SOURCE=web', 'TARGET=web'], code: 1, message: /a machine named "web" already exists/ },
    { case: 'a TARGET with a slash', args: ['clone', 'SOURCE=web', 'TARGET=a/b'], code: 2, message: /invalid machine name "a\/b"/ },
  ])('$case is refused and changes nothing', async ({ args, code, message }) => expectRefusedUnchanged(args, code, message));
});
