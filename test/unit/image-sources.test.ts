import { describe, expect, it } from 'vitest';
import { boxMetadata, boxVagrantfile, parseQemuImgInfo, virtualSizeGiB } from '../../src/images/box-format.js';
import { seedVolumeName } from '../../src/images/nocloud-seed.js';
import { boxDirectoryName, compareBoxVersions, pickBox, vagrantBoxImage } from '../../src/images/vagrant-box-store.js';
import { imageDefinitionSchema } from '../../src/images/image-schema.js';

const GiB = 2 ** 30;

describe('qemu-img info JSON', () => {
  it('gives the format and the virtual size', () => {
    const stdout = JSON.stringify({ 'virtual-size': 2147483648, filename: 'x.qcow2', format: 'qcow2', 'actual-size': 1234, 'dirty-flag': false });
    expect(parseQemuImgInfo(stdout)).toEqual({ format: 'qcow2', virtualSizeBytes: 2 * GiB });
  });

  it('reports a backing file', () => {
    const stdout = JSON.stringify({ 'virtual-size': GiB, format: 'qcow2', 'backing-filename': 'base.qcow2', 'full-backing-filename': '/v/base.qcow2' });
    expect(parseQemuImgInfo(stdout).backingFile).toBe('/v/base.qcow2');
  });

  it.each(['', 'not json', '{"format":"raw"}', '{"virtual-size":-1,"format":"raw"}'])('refuses %j', (stdout) => {
    expect(() => parseQemuImgInfo(stdout)).toThrow(/qemu-img info/);
  });
});

describe('virtual size', () => {
  it.each([
    [1, 1],
    [GiB, 1],
    [GiB + 1, 2],
    [2 * GiB, 2],
    [8 * GiB - 512, 8],
    [2361393152, 3], // a Debian cloud image: 2.2 GiB
  ])('%i bytes is %i GiB, rounded up', (bytes, gib) => {
    expect(virtualSizeGiB(bytes)).toBe(gib);
  });

  it('is whole GiB in metadata.json', () => {
    expect(JSON.parse(boxMetadata(2361393152))).toEqual({ provider: 'libvirt', format: 'qcow2', virtual_size: 3 });
  });
});

describe("a cloud image's box", () => {
  it("the box's Vagrantfile attaches the seed from the pool as a cdrom, only when there is one", () => {
    const seed = `/var/lib/libvirt/images/${seedVolumeName('cloud', '0.20261122001500')}`;
    expect(boxVagrantfile(seed)).toContain(
      'libvirt.storage :file, :device => :cdrom, :path => "/var/lib/libvirt/images/vmlab-seed-cloud-0.20261122001500.iso"',
    );
    expect(boxVagrantfile(null)).not.toContain('cdrom');
    expect(boxVagrantfile(null)).toContain('libvirt.driver = "kvm"');
  });

  it('names the guest type when the definition gives it, so that Vagrant does not probe for it', () => {
    expect(boxVagrantfile(null, 'ubuntu')).toContain('  config.vm.guest = :ubuntu\n');
    expect(boxVagrantfile(null)).not.toContain('config.vm.guest');
  });
});

describe('Vagrant boxes on this host', () => {
  it('names box folders with -VAGRANTSLASH-', () => {
    expect(boxDirectoryName('generic/debian12')).toBe('generic-VAGRANTSLASH-debian12');
    expect(boxDirectoryName('plain')).toBe('plain');
  });

  it('finds box.img under VAGRANT_HOME, else ~/.vagrant.d', () => {
    expect(vagrantBoxImage({ HOME: '/home/u' }, 'vmlab/debian-12', '0.1')).toBe('/home/u/.vagrant.d/boxes/vmlab-VAGRANTSLASH-debian-12/0.1/libvirt/box.img');
    expect(vagrantBoxImage({ HOME: '/home/u', VAGRANT_HOME: '/srv/vagrant' }, 'a/b', '2')).toBe('/srv/vagrant/boxes/a-VAGRANTSLASH-b/2/libvirt/box.img');
  });

  it('compares versions numerically', () => {
    expect(['1.2.10', '1.2.9', '1.10.0', '0.20261121235057'].sort(compareBoxVersions)).toEqual(['0.20261121235057', '1.2.9', '1.2.10', '1.10.0']);
  });

  const boxes = [
    { name: 'generic/debian12', provider: 'libvirt', version: '4.3.9' },
    { name: 'generic/debian12', provider: 'libvirt', version: '4.3.12' },
    { name: 'generic/debian12', provider: 'virtualbox', version: '9.9.9' },
    { name: 'vmlab/debian-12', provider: 'libvirt', version: '0.20261121235057' },
  ];

  it('picks the newest libvirt version when none is given, or the one given', () => {
    expect(pickBox(boxes, 'generic/debian12')).toEqual({ name: 'generic/debian12', version: '4.3.12' });
    expect(pickBox(boxes, 'generic/debian12', '4.3.9')).toEqual({ name: 'generic/debian12', version: '4.3.9' });
  });

  it('a missing box lists the boxes that exist; a missing version lists the versions', () => {
    expect(pickBox(boxes, 'nosuch')).toEqual({
      error: 'no Vagrant box "nosuch" for libvirt on this host',
      hint: 'Boxes on this host: generic/debian12 4.3.9, generic/debian12 4.3.12, vmlab/debian-12 0.20261121235057. Add one with: vagrant box add nosuch --provider libvirt',
    });
    expect(pickBox([], 'nosuch')).toMatchObject({ hint: expect.stringMatching(/^Boxes on this host: none\./) });
    expect(pickBox(boxes, 'generic/debian12', '9.9.9')).toEqual({ error: 'Vagrant box generic/debian12 has no version 9.9.9', hint: 'Versions on this host: 4.3.9, 4.3.12' });
  });
});

describe('the image schema for these sources', () => {
  const sha256 = 'a'.repeat(64);
  it('defaults cloudInit to true and takes exactly one of path and url', () => {
    const parsed = imageDefinitionSchema.parse({ description: 'x', source: { type: 'qcow2', path: '/x.qcow2', sha256 } });
    expect(parsed.source).toMatchObject({ type: 'qcow2', cloudInit: true });
    expect(imageDefinitionSchema.safeParse({ description: 'x', source: { type: 'qcow2', sha256 } }).success).toBe(false);
    expect(imageDefinitionSchema.safeParse({ description: 'x', source: { type: 'qcow2', path: '/a', url: 'https://example.org/a', sha256 } }).success).toBe(false);
  });
});
