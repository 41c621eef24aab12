import { createHash } from 'node:crypto';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { qcow2InputDigest } from '../../src/images/build-disk-image.js';
import { loadImageDefinition } from '../../src/images/load-images.js';
import { REPO, Sandbox } from '../support/fakes.js';

let sandbox: Sandbox;
let imagesDir: string;
let env: Record<string, string>;
const DISK = 'not really a disk, but it has a checksum\n';
const DISK_SHA = createHash('sha256').update(DISK).digest('hex');
const WRONG_SHA = '0'.repeat(64);

beforeEach(async () => {
  sandbox = await Sandbox.create();
  await sandbox.seedImages();
  await sandbox.plan([]);
  imagesDir = path.join(sandbox.root, 'my-images');
  await mkdir(imagesDir);
  await writeFile(path.join(imagesDir, 'disk.qcow2'), DISK);
  env = { VMLAB_IMAGES_DIR: imagesDir };
});
afterEach(async () => sandbox.cleanup());

async function define(name: string, source: string): Promise<void> {
  await writeFile(path.join(imagesDir, `${name}.yaml`), `description: ${name} from a disk\nsource:\n${source}`);
}

describe('base images from a qcow2 or a Vagrant box (VMLAB_IMAGES_DIR)', () => {
  it('a sha256 mismatch is refused with both sums, and nothing is run or registered', async () => {
    await define('cloud', `  type: qcow2\n  path: disk.qcow2\n  sha256: '${WRONG_SHA}'\n`);
    const before = await sandbox.snapshot();
    const result = await sandbox.make(['build', 'IMAGE=cloud'], env);
    expect(result.exitCode).not.toBe(0);
    expect(result.stderr).toContain(`image cloud: sha256 mismatch for disk.qcow2: expected ${WRONG_SHA}, actual ${DISK_SHA}`);
    expect(await sandbox.snapshot()).toEqual(before);
    expect(await sandbox.calls()).toEqual([]);
    const queue = JSON.parse((await sandbox.make(['queue', 'JSON=1'], env)).stdout) as { image: string; state: string; error: string }[];
    expect(queue).toEqual([expect.objectContaining({ image: 'cloud', state: 'failed', error: expect.stringContaining('sha256 mismatch') })]);
    const images = JSON.parse((await sandbox.cli(['images', '--json'], env)).stdout) as { name: string }[];
    expect(images.map((image) => image.name)).toEqual(['base', 'debian-12', 'docker']);
  });

  it('a missing source.path is refused, naming the file', async () => {
    await define('cloud', `  type: qcow2\n  path: /nonexistent/disk.qcow2\n  sha256: '${DISK_SHA}'\n`);
    const before = await sandbox.snapshot();
    const result = await sandbox.cli(['build', 'cloud'], env);
    expect(result.exitCode).not.toBe(0);
    expect(result.stderr).toMatch(/image cloud: source\.path \/nonexistent\/disk\.qcow2 does not exist/);
    expect(await sandbox.snapshot()).toEqual(before);
    expect(await sandbox.calls()).toEqual([]);
  });

  it('an unknown Vagrant box is refused with the list of the boxes that exist', async () => {
    await define('from-box', '  type: box\n  name: generic/nosuch\n');
    await sandbox.plan([
      {
        tool: 'vagrant',
        args: ['box', 'list', '--machine-readable'],
        stdout: [
          '1700000000,,box-name,generic/debian12',
          '1700000000,,box-provider,libvirt',
          '1700000000,,box-version,4.3.12',
          '1700000000,,box-name,vmlab/debian-12',
          '1700000000,,box-provider,libvirt',
          '1700000000,,box-version,0.20261120100000',
          '',
        ].join('\n'),
      },
    ]);
    const before = await sandbox.snapshot();
    const result = await sandbox.cli(['build', 'from-box'], env);
    expect(result.exitCode).not.toBe(0);
    expect(result.stderr).toMatch(/image from-box: no Vagrant box "generic\/nosuch" for libvirt on this host/);
    expect(result.stderr).toMatch(/Boxes on this host: generic\/debian12 4\.3\.12, vmlab\/debian-12 0\.20261120100000/);
    expect(await sandbox.snapshot()).toEqual(before);
    await sandbox.expectPlanDone();
  });

  it('definitions in VMLAB_IMAGES_DIR are known images; the project images/ still come first', async () => {
    await define('cloud', `  type: qcow2\n  path: disk.qcow2\n  sha256: '${DISK_SHA}'\n`);
    await writeFile(path.join(imagesDir, 'debian-12.yaml'), 'not: [valid');
    const result = await sandbox.cli(['build', 'nosuch'], env);
    expect(result.stderr).toMatch(/Known images: base, cloud, debian-12, docker, ubuntu-24\.04/);
    const upToDate = await sandbox.cli(['build', 'debian-12'], env);
    expect(upToDate.stderr, upToDate.stderr).toContain('image debian-12 is up to date');
  });

  it('an unchanged qcow2 definition is up to date and runs nothing', async () => {
    await define('cloud', `  type: qcow2\n  path: disk.qcow2\n  sha256: '${DISK_SHA}'\n`);
    const image = await loadImageDefinition(REPO, 'cloud', env);
    if (image?.definition.source?.type !== 'qcow2') throw new Error('not a qcow2 definition');
    const index = path.join(sandbox.home, 'images/index.json');
    const registry = JSON.parse(await (await import('node:fs/promises')).readFile(index, 'utf8'));
    registry.images.cloud = { ...registry.images['debian-12'], name: 'cloud', box: 'vmlab/cloud', file: 'cloud.box', inputDigest: qcow2InputDigest(image, image.definition.source) };
    await writeFile(index, JSON.stringify(registry));
    const result = await sandbox.cli(['build', 'cloud'], env);
    expect(result.exitCode, result.stderr).toBe(0);
    expect(result.stderr).toMatch(/image cloud is up to date/);
    expect(await sandbox.calls()).toEqual([]);
  });

  describe('from a URL', () => {
    let server: Server;
    let base: string;
    beforeEach(async () => {
      server = createServer((request, response) => {
        if (request.url === '/disk.qcow2') response.end(DISK);
        else response.writeHead(404, 'Not Found').end();
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    });
    afterEach(async () => new Promise<void>((resolve) => server.close(() => resolve())));

    it('a failed download names the URL and leaves nothing behind', async () => {
      await define('cloud', `  type: qcow2\n  url: ${base}/missing.qcow2\n  sha256: '${DISK_SHA}'\n`);
      const result = await sandbox.cli(['build', 'cloud'], env);
      expect(result.exitCode).not.toBe(0);
      expect(result.stderr).toContain(`image cloud: downloading ${base}/missing.qcow2 failed: HTTP 404 Not Found`);
      expect(await readdir(path.join(sandbox.home, 'tmp')).catch(() => [])).toEqual([]);
      expect(await readdir(path.join(sandbox.root, '.cache/vmlab/downloads')).catch(() => [])).toEqual([]);
      expect(await sandbox.calls()).toEqual([]);
    });

    it('a downloaded file with the wrong sha256 is refused and removed', async () => {
      await define('cloud', `  type: qcow2\n  url: ${base}/disk.qcow2\n  sha256: '${WRONG_SHA}'\n`);
      const before = await sandbox.snapshot();
      const result = await sandbox.cli(['build', 'cloud'], env);
      expect(result.exitCode).not.toBe(0);
      expect(result.stderr).toContain(`sha256 mismatch for ${base}/disk.qcow2: expected ${WRONG_SHA}, actual ${DISK_SHA}`);
      expect(await readdir(path.join(sandbox.home, 'tmp')).catch(() => [])).toEqual([]);
      expect(await readdir(path.join(sandbox.root, '.cache/vmlab/downloads')).catch(() => [])).toEqual([]);
      const after = await sandbox.snapshot();
      delete after['home/tmp'];
      expect(after).toEqual(before);
    });
  });
});
