import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Sandbox } from '../support/fakes.js';

let sandbox: Sandbox;
beforeEach(async () => {
  sandbox = await Sandbox.create();
  await sandbox.seedImages();
  await sandbox.plan([]);
  await writeFile(path.join(sandbox.labDir, 'lab.yaml'), 'name: lab\nmachines:\n  web:\n    role: docker\n  api:\n    role: docker\n  dev:\n    role: base\n');
});
afterEach(async () => sandbox.cleanup());

describe('make images TREE=1', () => {
  it('draws the lineage with sizes and the machines on each image, and runs no tool', async () => {
    const result = await sandbox.make(['images', 'TREE=1']);
    expect(result.exitCode, result.stderr).toBe(0);
    expect(result.stdout.trimEnd()).toBe(['debian-12  base  120 MiB  machines: dev', '└─ docker  role  120 MiB  machines: api, web'].join('\n'));
    expect(await sandbox.calls()).toEqual([]);
  });

  it('JSON=1 gives the nested records', async () => {
    const result = await sandbox.make(['images', 'TREE=1', 'JSON=1']);
    expect(result.exitCode, result.stderr).toBe(0);
    expect(JSON.parse(result.stdout)).toEqual([
      {
        name: 'debian-12', kind: 'base', sizeBytes: 120 * 2 ** 20, machines: ['dev'],
        children: [{ name: 'docker', kind: 'role', sizeBytes: 120 * 2 ** 20, machines: ['api', 'web'], children: [] }],
      },
    ]);
  });
});
