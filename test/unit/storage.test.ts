import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { decideSharedFolders } from '../../src/host/shared-folders.js';
import { labSchema } from '../../src/lab/lab-schema.js';
import { parseYaml } from '../../src/yaml-file.js';

const parse = (machine: string) => () => parseYaml(`machines:\n  a:\n    role: base\n${machine}`, labSchema, 'lab.yaml');

describe('folders: and disks: in lab.yaml', () => {
  it.each([
    ['    folders: {"./src": src}\n', /lab\.yaml:4:\d+: machines\.a\.folders\.\.\/src: must be an absolute guest path/],
    ['    disks: [{size: 0}]\n', /machines\.a\.disks\.0\.size: Number must be greater than or equal to 1/],
    ['    disks: [{size: 1.5}]\n', /size is a whole number of GiB/],
    ['    disks: [{size: 2, mount: data}]\n', /machines\.a\.disks\.0\.mount: must be an absolute guest path/],
    ['    disks: [{size: 2, mount: /}]\n', /mount: cannot be \//],
    ['    disks: [{size: 2, fs: xfs}]\n', /lab\.yaml:4:\d+: machines\.a\.disks\.0\.fs: /],
  ])('%s is refused at its line', (text, message) => {
    expect(parse(text)).toThrowError(message);
  });

  it('a folder and data disks as the README shows them are accepted', () => {
    const lab = parse('    folders: {"./src": /home/vagrant/src}\n    disks: [{size: 20, mount: /data}, {size: 5}]\n')().data as { machines: Record<string, unknown> };
    expect(lab.machines.a).toMatchObject({ folders: { './src': '/home/vagrant/src' }, disks: [{ size: 20, mount: '/data' }, { size: 5 }] });
  });
});

describe('how folders are shared on this host', () => {
  let dir = '';
  afterEach(async () => dir && rm(dir, { recursive: true, force: true }));

  it('virtiofs when a vhost-user descriptor of type fs names a virtiofsd that exists; 9p (with the reason) otherwise', async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'vmlab-vhost-'));
    expect(await decideSharedFolders({}, [dir])).toMatchObject({ type: '9p', reason: expect.stringContaining('no virtiofsd') });
    await writeFile(path.join(dir, '50-gone.json'), JSON.stringify({ type: 'fs', binary: path.join(dir, 'virtiofsd') }));
    await writeFile(path.join(dir, '40-gpu.json'), JSON.stringify({ type: 'gpu', binary: process.execPath }));
    expect((await decideSharedFolders({}, [dir])).type).toBe('9p');
    await writeFile(path.join(dir, 'virtiofsd'), '');
    expect(await decideSharedFolders({}, [dir])).toEqual({ type: 'virtiofs', reason: `the host has virtiofsd (${path.join(dir, 'virtiofsd')})` });
    expect((await decideSharedFolders({ VMLAB_SHARED_FOLDERS: '9p' }, [dir])).type).toBe('9p');
  });
});
