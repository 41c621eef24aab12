import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO } from '../support/fakes.js';

// The package as a user installs it: npm pack, then npm install -g of the tarball into a temporary
// prefix. --prefer-offline takes the dependencies from npm's cache (filled by the checkout's npm install).
let root: string;
let vmlab: string;

beforeAll(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'vmlab-pack-'));
  // --ignore-scripts: the CLI is built already (the tests' global setup checks it); prepack would rebuild dist under the other tests.
  const packed = await execa('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', root], { cwd: REPO, reject: false });
  expect(packed.exitCode, packed.stderr).toBe(0);
  const { filename } = (JSON.parse(packed.stdout) as { filename: string }[])[0]!;
  const installed = await execa('npm', ['install', '-g', '--prefix', path.join(root, 'prefix'), '--prefer-offline', '--no-audit', '--no-fund', path.join(root, filename)], { reject: false });
  expect(installed.exitCode, installed.stderr).toBe(0);
  vmlab = path.join(root, 'prefix', 'bin', 'vmlab');
}, 180_000);

afterAll(async () => {
  if (root) await rm(root, { recursive: true, force: true });
});

describe('the package installed globally from its tarball', () => {
  it('holds what vmlab needs at run time', async () => {
    const installedRoot = path.join(root, 'prefix', 'lib', 'node_modules', 'vmlab');
    const entries = await readdir(installedRoot);
    for (const entry of ['bin', 'dist', 'roles', 'scripts', 'images', 'Vagrantfile.hbs']) expect(entries).toContain(entry);
    expect(entries).not.toContain('src');
    expect(entries).not.toContain('test');
  });

  it('answers --version with the version of package.json', async () => {
    const result = await execa(vmlab, ['--version'], { reject: false });
    expect(result.exitCode).toBe(0);
    const { version } = (await import(path.join(REPO, 'package.json'), { with: { type: 'json' } })).default as { version: string };
    expect(result.stdout.trim()).toBe(version);
  });

  it('lists the roles and acts on the lab of the folder it runs in', async () => {
    const lab = path.join(root, 'my-lab');
    await mkdir(lab);
    const roles = await execa(vmlab, ['roles'], { cwd: lab, reject: false, env: { VMLAB_LAB_DIR: '', VMLAB_HOME: '' } });
    expect(roles.exitCode, roles.stderr).toBe(0);
    expect(roles.stdout).toMatch(/^base\s+base\s/m);
    await writeFile(path.join(lab, 'lab.yaml'), 'machines:\n  web:\n    role: docker\n');
    const render = await execa(vmlab, ['render'], { cwd: lab, reject: false, env: { VMLAB_LAB_DIR: '', VMLAB_HOME: '' } });
    expect(render.exitCode, render.stderr).toBe(0);
    expect(await readdir(lab)).toContain('Vagrantfile');
  });
});
