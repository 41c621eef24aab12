import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { imageChain } from '../../src/images/image-graph.js';
import type { Context } from '../../src/context.js';
import { healthChecks, hostReadings, libvirtUp, noDomains, REPO, Sandbox } from '../support/fakes.js';

let sandbox: Sandbox;
beforeEach(async () => {
  sandbox = await Sandbox.create();
  await sandbox.seedImages();
});
afterEach(async () => sandbox.cleanup());

describe('role images', () => {
  it('AUTO_BUILD=0 boots the nearest built image, says so, and provisions the role at first boot', async () => {
    await sandbox.plan([libvirtUp, noDomains, ...hostReadings, { tool: 'vagrant', args: ['up', 'obs', '--provider=libvirt'] }, healthChecks('obs', 3)]);
    const result = await sandbox.make(['create-observer', 'NAME=obs', 'AUTO_BUILD=0']);
    expect(result.exitCode, result.stderr).toBe(0);
    expect(result.stderr).toMatch(/image observer is not built \(AUTO_BUILD=0\): obs boots debian-12 and provisions the rest of observer's features/);
    expect(await sandbox.readLab()).toMatch(/ {2}obs:\n {4}role: observer\n {4}image: debian-12\n/);
    const vagrantfile = (await sandbox.readVagrantfile()) ?? '';
    expect(vagrantfile).toContain("machine.vm.box = 'vmlab/debian-12'");
    expect(vagrantfile).toContain("'feature-essentials'");
    expect(vagrantfile).toContain("'feature-observer'");
    await sandbox.expectPlanDone();
  });

  it('a role image on the role image docker is built after both parents (any depth)', async () => {
    const defs = path.join(sandbox.root, 'defs');
    await mkdir(defs);
    await writeFile(path.join(defs, 'docker-observer.yaml'), 'description: docker plus the observer tools\nrole: observer\nparent: docker\n');
    const context = { projectRoot: REPO, env: { VMLAB_IMAGES_DIR: defs } } as unknown as Context;
    expect(await imageChain(context, 'docker-observer')).toEqual(['debian-12', 'docker', 'docker-observer']);
    const dry = await sandbox.make(['build', 'IMAGE=docker-observer', 'DRY_RUN=1'], { VMLAB_IMAGES_DIR: defs });
    expect(dry.exitCode, dry.stderr).toBe(0);
    expect(dry.stdout).toMatch(/build-role-image\.sh --parent-box \S+\/docker\/docker\.box .*--feature observer/);
    expect(dry.stdout).not.toMatch(/--feature essentials/);
  });

  it('an image whose parents form a loop is refused', async () => {
    const defs = path.join(sandbox.root, 'defs');
    await mkdir(defs);
    await writeFile(path.join(defs, 'a.yaml'), 'description: a\nrole: docker\nparent: b\n');
    await writeFile(path.join(defs, 'b.yaml'), 'description: b\nrole: docker\nparent: a\n');
    const result = await sandbox.make(['build', 'IMAGE=a'], { VMLAB_IMAGES_DIR: defs });
    expect(result.exitCode).not.toBe(0);
    expect(result.stderr).toMatch(/image a: its parents form a loop \(a -> b -> a\)/);
  });
});
