import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/errors.js';
import { LabFile } from '../../src/lab/lab-file.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'vmlab-labfile-'));
});
afterEach(async () => rm(dir, { recursive: true, force: true }));

const USER_LAB = `# my lab, my comments
name: mylab
machines:
  # the database first
  db:
    role: base # keep small
    memory: 1024
  api:
    role: docker
`;

describe('lab.yaml editing', () => {
  it('adds a machine and keeps the comments and order the user wrote', async () => {
    const file = path.join(dir, 'lab.yaml');
    await writeFile(file, USER_LAB);
    const lab = await LabFile.load(file);
    await lab.withMachine('web', { role: 'docker', cpus: 2 }).save();
    const text = await readFile(file, 'utf8');
    expect(text).toContain('# my lab, my comments');
    expect(text).toContain('# the database first');
    expect(text).toContain('role: base # keep small');
    expect(text.indexOf('db:')).toBeLessThan(text.indexOf('api:'));
    expect(text.indexOf('api:')).toBeLessThan(text.indexOf('web:'));
    expect((await LabFile.load(file)).machine('web')).toEqual({ role: 'docker', cpus: 2 });
  });

  it('removes a machine and keeps everything else', async () => {
    const file = path.join(dir, 'lab.yaml');
    await writeFile(file, USER_LAB);
    await (await LabFile.load(file)).withoutMachine('api').save();
    const text = await readFile(file, 'utf8');
    expect(text).not.toContain('api:');
    expect(text).toContain('role: base # keep small');
  });

  it('removing a machine takes it out of the groups that name it; adding a network keeps the rest', async () => {
    const file = path.join(dir, 'lab.yaml');
    await writeFile(file, `${USER_LAB}groups:\n  # the tier\n  tier: [db, api]\n`);
    const lab = (await LabFile.load(file)).withoutMachine('db').withNetwork('back', '10.30.1.0/24');
    await lab.save();
    const text = await readFile(file, 'utf8');
    expect(text).toContain('# the tier');
    const reloaded = await LabFile.load(file);
    expect(reloaded.lab.groups).toEqual({ tier: ['api'] });
    expect(reloaded.lab.networks).toEqual({ back: '10.30.1.0/24' });
    expect(reloaded.machine('db')).toBeUndefined();
  });

  it('starts a new lab as a readable block map with a header', async () => {
    const file = path.join(dir, 'lab.yaml');
    const lab = await LabFile.load(file);
    expect(lab.exists).toBe(false);
    await lab.withMachine('web', { role: 'docker' }).save();
    const text = await readFile(file, 'utf8');
    expect(text).toMatch(/^# vmlab lab/);
    expect(text).toContain('machines:\n  web:\n    role: docker\n');
  });

  it.each([
    ['malformed YAML', 'machines:\n  web:\n    role: [docker\n', /lab\.yaml:\d+:\d+: /],
    ['a wrong type, with its line', 'machines:\n  web:\n    role: docker\n    cpus: lots\n', /lab\.yaml:4:11: machines\.web\.cpus: cpus is a whole number of vCPUs, such as 2/],
    ['an unknown field', 'machines:\n  web:\n    role: docker\n    colour: red\n', /machines\.web\.colour: unknown field/],
    ['a bad machine name', 'machines:\n  Web_1:\n    role: docker\n', /machine names are/],
    ['a duplicate key', 'machines:\n  web:\n    role: docker\n  web:\n    role: base\n', /lab\.yaml:4:\d+: .*[Uu]nique/],
  ])('rejects %s with file, line and field, and never rewrites the file', async (_case, text, message) => {
    const file = path.join(dir, 'lab.yaml');
    await writeFile(file, text);
    const error = await LabFile.load(file).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toMatch(message);
    expect(await readFile(file, 'utf8')).toBe(text);
  });
});
