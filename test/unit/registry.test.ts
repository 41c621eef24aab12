import { mkdtemp, readFile, rm, writeFile, mkdir } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Registry } from '../../src/images/registry.js';
import type { ImageRecord } from '../../src/images/registry-schema.js';
import { boxVersion, catalog, poolVolumePrefix, stampOf } from '../../src/images/vagrant-boxes.js';
import { compareBoxVersions } from '../../src/images/vagrant-box-store.js';

let home: string;
beforeEach(async () => {
  home = await mkdtemp(path.join(os.tmpdir(), 'vmlab-registry-'));
});
afterEach(async () => rm(home, { recursive: true, force: true }));

const record = (name: string): ImageRecord => ({
  name, kind: 'base', role: null, source: 'test', parent: null, created: '2026-11-21T00:00:00.000Z', sizeBytes: 1, virtualSizeBytes: 2,
  sha256: '0'.repeat(64), inputDigest: 'x', features: [], file: `${name}.box`, box: `vmlab/${name}`, boxVersion: '0.1', retiredVersions: [],
});

describe('image registry', () => {
  it('an absent index is an empty registry', async () => {
    expect(await new Registry(home).read()).toEqual({ version: 1, images: {} });
  });

  it('concurrent updates under the lock lose no entry', async () => {
    const registry = new Registry(home);
    await Promise.all(
      Array.from({ length: 12 }, (_, i) => new Registry(home).update((index) => {
        index.images[`image-${i}`] = record(`image-${i}`);
      })),
    );
    expect(Object.keys((await registry.read()).images)).toHaveLength(12);
  });

  it.each([
    ['not JSON', '{"version": 1, "images": {'],
    ['a wrong type', JSON.stringify({ version: 1, images: { a: { ...record('a'), sizeBytes: 'big' } } })],
    ['an unknown version', JSON.stringify({ version: 9, images: {} })],
  ])('a corrupt index (%s) is reported with the way back, and never rewritten', async (_case, text) => {
    await mkdir(path.join(home, 'images'), { recursive: true });
    const file = path.join(home, 'images/index.json');
    await writeFile(file, text);
    const registry = new Registry(home);
    await expect(registry.read()).rejects.toThrowError(/image registry index is corrupt: .*index\.json.*Nothing was changed/);
    await expect(registry.update(() => undefined)).rejects.toThrowError(/corrupt/);
    expect(await readFile(file, 'utf8')).toBe(text);
  });

  it('keeps the previous index as index.json.bak', async () => {
    const registry = new Registry(home);
    await registry.update((index) => {
      index.images.a = record('a');
    });
    await registry.update((index) => {
      delete index.images.a;
    });
    expect(JSON.parse(await readFile(path.join(home, 'images/index.json.bak'), 'utf8')).images.a.name).toBe('a');
  });
});

describe('Vagrant boxes', () => {
  it('gives a box the version its bytes make: when it was built, then its checksum; so the same bytes share one version', () => {
    const sha = `0000012a${'f'.repeat(56)}`;
    expect(boxVersion(new Date('2026-11-21T23:49:30.123Z'), sha)).toBe('0.20261121234930.298');
    // The same build (the same time and bytes, as every checkout reusing a cached box has) gives the same version.
    expect(boxVersion(new Date('2026-11-21T23:49:30.999Z'), sha)).toBe(boxVersion(new Date('2026-11-21T23:49:30.123Z'), sha));
    // Other bytes of the same second are another version; a later build sorts after, as Vagrant picks the newest.
    expect(boxVersion(new Date('2026-11-21T23:49:30.123Z'), 'f'.repeat(64))).toBe('0.20261121234930.4294967295');
    expect(compareBoxVersions(boxVersion(new Date('2026-11-21T23:49:31Z'), sha), boxVersion(new Date('2026-11-21T23:49:30Z'), 'f'.repeat(64)))).toBe(1);
    // A version from before (0.<stamp>) keeps working: its seed is named by the same stamp.
    expect(stampOf('0.20261121234930')).toBe('0.20261121234930');
    expect(stampOf('0.20261121234930.298')).toBe('0.20261121234930');
  });

  it('writes a catalog Vagrant can add with a version and checksum', () => {
    expect(JSON.parse(catalog('vmlab/debian-12', '0.1', '/var/x y/d.box', 'ab'))).toEqual({
      name: 'vmlab/debian-12',
      versions: [{ version: '0.1', providers: [{ name: 'libvirt', url: 'file:///var/x%20y/d.box', checksum_type: 'sha256', checksum: 'ab' }] }],
    });
  });

  it("knows vagrant-libvirt's pool volume names", () => {
    expect(poolVolumePrefix('vmlab/debian-12')).toBe('vmlab-VAGRANTSLASH-debian-12_vagrant_box_image_');
  });
});
