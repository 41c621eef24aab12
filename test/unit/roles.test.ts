import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadRoles } from '../../src/roles/load-roles.js';
import { REPO } from '../support/fakes.js';

let project: string;
beforeEach(async () => {
  project = await mkdtemp(path.join(os.tmpdir(), 'vmlab-roles-'));
  await mkdir(path.join(project, 'roles'));
  await mkdir(path.join(project, 'scripts/features'), { recursive: true });
  await writeFile(path.join(project, 'scripts/features/essentials.sh'), '#!/usr/bin/env bash\n');
});
afterEach(async () => rm(project, { recursive: true, force: true }));

const GOOD = `description: a role
image: web
parent: debian-12
resources: { cpus: 1, memory: 1024, disk: 10 }
features: [essentials]
`;

describe('role files', () => {
  it('every role in the repository loads and names existing features', async () => {
    const roles = await loadRoles(REPO);
    expect([...roles.keys()].sort()).toEqual(['base', 'docker', 'k8s', 'kata', 'lxd', 'observer']);
    for (const role of roles.values()) expect(role.featureScripts.length).toBe(role.features.length);
  });

  it('reports every problem of every file at once, as file: field: problem', async () => {
    await writeFile(path.join(project, 'roles/good.yaml'), GOOD);
    await writeFile(
      path.join(project, 'roles/bad.yaml'),
      GOOD.replace('cpus: 1', 'cpus: 0').replace('disk: 10', 'disk: 1') + 'colour: red\n',
    );
    await writeFile(path.join(project, 'roles/worse.yaml'), GOOD.replace('[essentials]', '[essentials, nosuch]'));
    const error = await loadRoles(project).catch((caught: Error) => caught);
    const message = (error as Error).message;
    expect(error).toMatchObject({ exitCode: 2, hint: 'Fix the role files named above.' });
    expect(message).toMatch(/roles\/bad\.yaml:\d+:\d+: resources\.cpus: Number must be greater than or equal to 1/);
    expect(message).toMatch(/roles\/bad\.yaml:\d+:\d+: resources\.disk: disk is in GiB and must be at least 5/);
    expect(message).toMatch(/roles\/bad\.yaml:6:1: colour: unknown field/);
    expect(message).toMatch(/roles\/worse\.yaml: features\.1: unknown feature "nosuch" \(no scripts\/features\/nosuch\.sh\)/);
  });
});
