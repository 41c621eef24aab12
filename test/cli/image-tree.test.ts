import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Sandbox } from '../support/fakes.js';

let sandbox: Sandbox;
beforeEach(async () => {
  sandbox = await Sandbox.create();
  await sandbox.seedImages();
  await sandbox.plan([]);
  await writeFile(path.join(sandbox.labDir, 'lab.yaml'), 'name: lab\nmachines:\n  web:\n    role: docker\n  api:\n    role: docker\n  dev:\n    role: base\n  old:\n    role: base\n');
  // old's VM was made before the base role had an image of its own: Vagrant recorded the box it came from.
  const machine = path.join(sandbox.labDir, '.vagrant/machines/old/libvirt');
  await mkdir(machine, { recursive: true });
  await writeFile(path.join(machine, 'id'), '1b6f0c1e-0000-4000-8000-000000000000');
  await writeFile(path.join(machine, 'box_meta'), JSON.stringify({ name: 'vmlab/debian-12', version: '0.20261120100000', provider: 'libvirt' }));
});
afterEach(async () => sandbox.cleanup());

describe('make images TREE=1', () => {
  it('draws the lineage with sizes and the machines on each image, and runs no tool', async () => {
    const result = await sandbox.make(['images', 'TREE=1']);
    expect(result.exitCode, result.stderr).toBe(0);
    expect(result.stdout.trimEnd()).toBe(
      ['debian-12  base  120 MiB  machines: old', '├─ base  role  120 MiB  machines: dev', '└─ docker  role  120 MiB  machines: api, web'].join('\n'),
    );
    expect(await sandbox.calls()).toEqual([]);
  });

  it('JSON=1 gives the nested records', async () => {
    const result = await sandbox.make(['images', 'TREE=1', 'JSON=1']);
    expect(result.exitCode, result.stderr).toBe(0);
    expect(JSON.parse(result.stdout)).toEqual([
      {
        name: 'debian-12', kind: 'base', sizeBytes: 120 * 2 ** 20, machines: ['old'],
        children: [
          { name: 'base', kind: 'role', sizeBytes: 120 * 2 ** 20, machines: ['dev'], children: [] },
          { name: 'docker', kind: 'role', sizeBytes: 120 * 2 ** 20, machines: ['api', 'web'], children: [] },
        ],
      },
    ]);
  });
});
