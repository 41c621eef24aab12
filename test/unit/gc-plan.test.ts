import { describe, expect, it } from 'vitest';
import { classifyVolume, planGc, RECENT_MS, type GcFacts } from '../../src/images/gc-plan.js';
import type { ImageRecord, RegistryIndex } from '../../src/images/registry-schema.js';

const POOL = '/var/lib/libvirt/images';
const NOW = Date.parse('2026-11-22T12:00:00Z');
const OLD = NOW - 3 * 24 * 3600_000;
const MiB = 2 ** 20;

const record = (name: string, boxVersion: string, extra: Partial<ImageRecord> = {}): ImageRecord => ({
  name, kind: 'base', role: null, source: 'test', parent: null, created: '2026-11-20T10:00:00.000Z', sizeBytes: 1, virtualSizeBytes: 2,
  sha256: '0'.repeat(64), inputDigest: 'x', features: [], file: `${name}.box`, box: `vmlab/${name}`, boxVersion, retiredVersions: [], ...extra,
});
const index = (...records: ImageRecord[]): RegistryIndex => ({ version: 1, images: Object.fromEntries(records.map((entry) => [entry.name, entry])) });
const boxVolume = (image: string, version: string) => `vmlab-VAGRANTSLASH-${image}_vagrant_box_image_${version}_box.img`;
const volume = (name: string, mtimeMs: number | null = OLD, bytes: number | null = 10 * MiB) => ({ name, path: `${POOL}/${name}`, bytes, mtimeMs });

/** One checkout's registry: debian-12 at 0.2 (0.1 retired, a VM still on it) and docker at 0.5. */
const mine = { file: '/home/u/a/.vmlab/images/index.json', index: index(record('debian-12', '0.2', { retiredVersions: ['0.1'] }), record('docker', '0.5', { kind: 'role', parent: 'debian-12' })) };

function facts(extra: Partial<GcFacts> = {}): GcFacts {
  return {
    now: NOW, registries: [mine], unreadable: [], domains: [], volumes: [], inUse: new Set(), inUseProblems: [], boxes: [], liveJobs: [], staleWork: [], imageFolders: [], networks: [],
    ...extra,
  };
}

const removed = (items: ReturnType<typeof planGc>) => items.filter((item) => item.remove).map((item) => `${item.kind} ${item.name}`).sort();
const kept = (items: ReturnType<typeof planGc>) => items.filter((item) => !item.remove).map((item) => `${item.kind} ${item.name}: ${item.why}`);

describe('make gc: what is removed', () => {
  it("vmlab's networks that no domain, running or not, is on; never anyone else's", () => {
    const items = planGc(facts({ networks: [{ name: 'vmlab-mgmt', usedBy: ['vmlab-lab-web'] }, { name: 'vmlab-lab-back', usedBy: [] }, { name: 'default', usedBy: [] }] }));
    expect(removed(items)).toEqual(['network vmlab-lab-back']);
  });
  it('an image folder the registry does not list (a build killed while registering), unless recent or still being made', () => {
    const folder = (name: string, mtimeMs: number | null = OLD) => ({ name, dir: `/home/u/a/.vmlab/images/${name}`, bytes: MiB, mtimeMs });
    const items = planGc(facts({
      imageFolders: [folder('debian-12'), folder('lost'), folder('fresh', NOW - 60_000), folder('building')],
      liveJobs: [{ image: 'building', dir: '/home/u/a/.vmlab/tmp/build-building-77' }],
    }));
    expect(removed(items)).toEqual(['image-folder /home/u/a/.vmlab/images/lost']);
    expect(kept(items).map((line) => line.split(':')[0])).toEqual(['image-folder /home/u/a/.vmlab/images/fresh', 'image-folder /home/u/a/.vmlab/images/building']);
  });

  it('every category: unclaimed box volumes, seeds and boxes, disks of gone domains, dead jobs\' folders', () => {
    const items = planGc(facts({
      domains: ['vmlab-lab-web', 'other-vm'],
      volumes: [
        volume(boxVolume('debian-12', '0.2')), volume(boxVolume('debian-12', '0.1')), volume(boxVolume('debian-12', '0.0')),
        volume(boxVolume('gone', '0.9')),
        volume('vmlab-seed-debian-12-0.2.iso'), volume('vmlab-seed-debian-12-0.0.iso'),
        volume('vmlab-lab-web.img'), volume('vmlab-lab-web-vdb.qcow2'), volume('vmlab-lab-db.img'), volume('vmlab-old-api-vdb.qcow2'),
      ],
      boxes: [
        { name: 'vmlab/debian-12', version: '0.2', provider: 'libvirt', bytes: 5 * MiB, mtimeMs: OLD },
        { name: 'vmlab/debian-12', version: '0.0', provider: 'libvirt', bytes: 5 * MiB, mtimeMs: OLD },
        { name: 'vmlab/gone', version: '0.9', provider: 'libvirt', bytes: null, mtimeMs: null },
      ],
      staleWork: [{ dir: '/home/u/a/.vmlab/tmp/build-docker-4242', bytes: MiB }],
    }));
    expect(removed(items)).toEqual([
      `box-volume ${boxVolume('debian-12', '0.0')}`,
      `box-volume ${boxVolume('gone', '0.9')}`,
      'disk-volume vmlab-lab-db.img',
      'disk-volume vmlab-old-api-vdb.qcow2',
      'seed-volume vmlab-seed-debian-12-0.0.iso',
      'temp-folder /home/u/a/.vmlab/tmp/build-docker-4242',
      'vagrant-box vmlab/debian-12 0.0',
      'vagrant-box vmlab/gone 0.9',
    ]);
    expect(kept(items)).toEqual([]);
    const box = items.find((item) => item.name === 'vmlab/gone 0.9');
    expect(box).toMatchObject({ box: 'vmlab/gone', version: '0.9', why: 'image gone is in no registry' });
    expect(items.find((item) => item.name === 'vmlab/debian-12 0.0')?.why).toBe('no registry claims version 0.0 of image debian-12');
    expect(items.find((item) => item.name === 'vmlab-lab-db.img')).toMatchObject({ bytes: 10 * MiB, path: `${POOL}/vmlab-lab-db.img` });
  });

  it('a version another registry on this host claims is kept (box, box volume and seed)', () => {
    const other = { file: '/home/u/b/.vmlab/images/index.json', index: index(record('debian-12', '0.0')) };
    const items = planGc(facts({
      registries: [mine, other],
      volumes: [volume(boxVolume('debian-12', '0.0')), volume('vmlab-seed-debian-12-0.0.iso')],
      boxes: [{ name: 'vmlab/debian-12', version: '0.0', provider: 'libvirt', bytes: null, mtimeMs: OLD }],
    }));
    expect(items).toEqual([]);
    // Without the other registry, all three go.
    expect(removed(planGc(facts({ volumes: [volume(boxVolume('debian-12', '0.0')), volume('vmlab-seed-debian-12-0.0.iso')], boxes: [{ name: 'vmlab/debian-12', version: '0.0', provider: 'libvirt', bytes: null, mtimeMs: OLD }] })))).toHaveLength(3);
  });

  it('a box version of the content-derived form (0.<stamp>.<checksum>) claims its box volume and its seed (named by the stamp)', () => {
    const other = { file: '/home/u/b/.vmlab/images/index.json', index: index(record('ubuntu', '0.20261120100000.298')) };
    const claimed = [volume(boxVolume('ubuntu', '0.20261120100000.298')), volume('vmlab-seed-ubuntu-0.20261120100000.iso')];
    expect(planGc(facts({ registries: [mine, other], volumes: claimed, boxes: [{ name: 'vmlab/ubuntu', version: '0.20261120100000.298', provider: 'libvirt', bytes: null, mtimeMs: OLD }] }))).toEqual([]);
    // Another build of the same second (other bytes) is not claimed by it, nor is a seed of another stamp.
    const unclaimed = [volume(boxVolume('ubuntu', '0.20261120100000.299')), volume('vmlab-seed-ubuntu-0.20261120100001.iso')];
    expect(removed(planGc(facts({ registries: [mine, other], volumes: unclaimed })))).toHaveLength(2);
  });

  it('a volume a VM stands on (backing file, CD-ROM) is kept even when no registry claims it', () => {
    const unclaimed = [volume(boxVolume('x', '0.3')), volume('vmlab-seed-x-0.3.iso'), volume('vmlab-old-web.img')];
    expect(removed(planGc(facts({ volumes: unclaimed })))).toHaveLength(3);
    expect(planGc(facts({ volumes: unclaimed, inUse: new Set(unclaimed.map((entry) => entry.path)) }))).toEqual([]);
  });

  it('a disk volume modified in the last 10 minutes (vagrant up creates it before the domain) is skipped, not removed', () => {
    const items = planGc(facts({ volumes: [volume('vmlab-lab-new.img', NOW - 2 * 60_000), volume('vmlab-lab-unknown.img', null), volume('vmlab-lab-old.img', NOW - RECENT_MS - 1)] }));
    expect(removed(items)).toEqual(['disk-volume vmlab-lab-old.img']);
    expect(kept(items)).toEqual([
      'disk-volume vmlab-lab-new.img: disk of a machine whose libvirt domain is gone; recent, skipped (modified 2 min ago: a vagrant up may be creating its VM)',
      'disk-volume vmlab-lab-unknown.img: disk of a machine whose libvirt domain is gone; age unknown, skipped',
    ]);
  });

  it('a box just added, or whose image a running job is making, is skipped', () => {
    const items = planGc(facts({
      boxes: [
        { name: 'vmlab/fresh', version: '0.1', provider: 'libvirt', bytes: null, mtimeMs: NOW - 60_000 },
        { name: 'vmlab/building', version: '0.1', provider: 'libvirt', bytes: null, mtimeMs: OLD },
      ],
      volumes: [volume('vmlab-seed-building-0.1.iso')],
      liveJobs: [{ image: 'building', dir: '/home/u/c/.vmlab/tmp/build-building-77' }],
    }));
    expect(removed(items)).toEqual([]);
    expect(kept(items)).toEqual([
      'seed-volume vmlab-seed-building-0.1.iso: seed of image building 0.1: no registry claims it, no VM uses it; a job making image building is running (/home/u/c/.vmlab/tmp/build-building-77), skipped',
      'vagrant-box vmlab/fresh 0.1: image fresh is in no registry; recent, skipped (added 1 min ago)',
      'vagrant-box vmlab/building 0.1: image building is in no registry; a job making image building is running (/home/u/c/.vmlab/tmp/build-building-77), skipped',
    ]);
  });

  it('never lists what vmlab did not make', () => {
    const foreign = ['ubuntu.qcow2', 'other-VAGRANTSLASH-x_vagrant_box_image_1_box.img', 'generic-VAGRANTSLASH-debian12_vagrant_box_image_4.3.12_box.img', 'vmlab.img', 'vmlabx-lab-web.img', 'vmlab-Lab-web.img', 'vmlab-lab-web.qcow2', 'seed.iso'];
    const items = planGc(facts({
      volumes: foreign.map((name) => volume(name)),
      boxes: [
        { name: 'generic/debian12', version: '4.3.12', provider: 'libvirt', bytes: null, mtimeMs: OLD },
        { name: 'vmlabx/debian-12', version: '1', provider: 'libvirt', bytes: null, mtimeMs: OLD },
        { name: 'vmlab/debian-12', version: '0.0', provider: 'virtualbox', bytes: null, mtimeMs: OLD },
      ],
    }));
    expect(items).toEqual([]);
    expect(foreign.map(classifyVolume)).toEqual(foreign.map(() => undefined));
  });

  it('a disk volume some existing domain owns is kept, whatever its lab', () => {
    const items = planGc(facts({ domains: ['vmlab-other-db'], volumes: [volume('vmlab-other-db.img'), volume('vmlab-other-db-vdb.qcow2'), volume('vmlab-other-web.img')] }));
    expect(removed(items)).toEqual(['disk-volume vmlab-other-web.img']);
  });

  it('an unreadable registry: no box, box volume or seed is removed, and the why names the file; disks and folders still go', () => {
    const items = planGc(facts({
      unreadable: ['/home/u/b/.vmlab/images/index.json'],
      volumes: [volume(boxVolume('x', '0.3')), volume('vmlab-seed-x-0.3.iso'), volume('vmlab-lab-old.img')],
      boxes: [{ name: 'vmlab/x', version: '0.3', provider: 'libvirt', bytes: null, mtimeMs: OLD }],
      staleWork: [{ dir: '/home/u/a/.vmlab/tmp/export-x-9', bytes: null }],
    }));
    expect(removed(items)).toEqual(['disk-volume vmlab-lab-old.img', 'temp-folder /home/u/a/.vmlab/tmp/export-x-9']);
    const keptItems = items.filter((item) => !item.remove);
    expect(keptItems.map((item) => item.kind).sort()).toEqual(['box-volume', 'seed-volume', 'vagrant-box']);
    for (const item of keptItems) expect(item.why).toContain('/home/u/b/.vmlab/images/index.json could not be read');
  });

  it('when which files VMs use is not fully known, no volume is removed', () => {
    const items = planGc(facts({
      inUseProblems: ['what the disk /x of domain vmlab-lab-web stands on could not be read'],
      volumes: [volume(boxVolume('x', '0.3')), volume('vmlab-lab-old.img')],
      boxes: [{ name: 'vmlab/x', version: '0.3', provider: 'libvirt', bytes: null, mtimeMs: OLD }],
    }));
    expect(removed(items)).toEqual(['vagrant-box vmlab/x 0.3']);
    expect(kept(items).every((line) => line.includes('not fully known'))).toBe(true);
  });
});

describe('pool volume names', () => {
  it.each([
    [boxVolume('debian-12', '0.20261120100000'), { kind: 'box-volume', box: 'vmlab/debian-12', image: 'debian-12', version: '0.20261120100000' }],
    [boxVolume('ubuntu-24.04', '0.1'), { kind: 'box-volume', box: 'vmlab/ubuntu-24.04', image: 'ubuntu-24.04', version: '0.1' }],
    ['vmlab-seed-ubuntu-24.04-0.20261120100000.iso', { kind: 'seed-volume', image: 'ubuntu-24.04', version: '0.20261120100000' }],
    ['vmlab-lab-web.img', { kind: 'disk-volume' }],
    ['vmlab-lab2-web-1-vdb.qcow2', { kind: 'disk-volume' }],
    ['vmlab-seed-web.img', { kind: 'disk-volume' }],
  ])('%s', (name, expected) => {
    expect(classifyVolume(name)).toEqual(expected);
  });
});
