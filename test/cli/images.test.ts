import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Sandbox } from '../support/fakes.js';

let sandbox: Sandbox;
beforeEach(async () => {
  sandbox = await Sandbox.create();
  await sandbox.seedImages();
  await sandbox.plan([]);
});
afterEach(async () => sandbox.cleanup());

describe('the image registry through make', () => {
  it('images lists every image with kind, parent and size; JSON=1 gives the records', async () => {
    const table = await sandbox.make(['images']);
    expect(table.exitCode, table.stderr).toBe(0);
    expect(table.stdout).toMatch(/NAME\s+KIND\s+STATE\s+ROLE\s+PARENT\s+SIZE/);
    expect(table.stdout).toMatch(/docker\s+role\s+current\s+docker\s+debian-12\s+120 MiB\s+8 GiB/);
    const json = JSON.parse((await sandbox.make(['images', 'JSON=1'])).stdout) as { name: string }[];
    expect(json.map((image) => image.name)).toEqual(['base', 'debian-12', 'docker']);
  });

  it('build of an image whose inputs are unchanged says it is up to date and runs nothing', async () => {
    const result = await sandbox.make(['build', 'IMAGE=debian-12']);
    expect(result.exitCode, result.stderr).toBe(0);
    expect(result.stderr).toMatch(/image debian-12 is up to date \(\d+\.\d s\)/);
    expect(await sandbox.calls()).toEqual([]);
  });

  it("build ROLE=base builds the base role's own image (debian-12 with its features)", async () => {
    const result = await sandbox.make(['build', 'ROLE=base']);
    expect(result.stderr).toContain('image base is up to date');
  });

  it.each([
    { case: 'an unknown image', args: ['build', 'IMAGE=nosuch'], message: /unknown image "nosuch".*\n.*Known images: base, debian-12, docker, ubuntu-24\.04/ },
    { case: 'no image or role', args: ['build'], message: /build needs IMAGE or ROLE/ },
    { case: 'removing an image with children', args: ['image-rm', 'IMAGE=debian-12', 'YES=1'], message: /image debian-12 has child images: base, docker.*\n.*make image-rm IMAGE=base YES=1/ },
    { case: 'removing an unknown image', args: ['image-rm', 'IMAGE=nosuch', 'YES=1'], message: /unknown image "nosuch"/ },
    { case: 'removing without confirmation', args: ['image-rm', 'IMAGE=docker'], message: /not removing image docker: not confirmed/ },
  ])('$case is refused and changes nothing', async ({ args, message }) => {
    const before = await sandbox.snapshot();
    const result = await sandbox.make(args);
    expect(result.exitCode).not.toBe(0);
    expect(result.stderr).toMatch(message);
    expect(await sandbox.snapshot()).toEqual(before);
    expect(await sandbox.calls()).toEqual([]);
  });

  it('removing an image a machine uses is refused, naming the machine', async () => {
    await writeFile(path.join(sandbox.labDir, 'lab.yaml'), 'name: lab\nmachines:\n  web:\n    role: docker\n');
    const result = await sandbox.make(['image-rm', 'IMAGE=docker', 'YES=1']);
    expect(result.stderr).toMatch(/image docker is used by machines: web.*\n.*make delete NAME=web YES=1/);
  });

  it('a corrupt registry index is reported with the way back and left as it was', async () => {
    const index = path.join(sandbox.home, 'images/index.json');
    await writeFile(index, '{"version": 1, "images": {');
    const result = await sandbox.make(['images']);
    expect(result.exitCode).not.toBe(0);
    expect(result.stderr).toMatch(/image registry index is corrupt: .*index\.json: not valid JSON.*Nothing was changed/);
    expect(result.stderr).toMatch(/next: .*cp .*index\.json\.bak/);
    expect(await readFile(index, 'utf8')).toBe('{"version": 1, "images": {');
  });
});
