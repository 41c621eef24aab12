import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseBoxList, parsePluginVersion, parseVagrantVersion, vagrantArgs } from '../../src/adapters/vagrant.js';
import { parseDomainList, parseDomifaddr, parseDominfo, parseVolumeList } from '../../src/adapters/virsh.js';
import { isVolumeOf } from '../../src/commands/delete.js';
import { REPO } from '../support/fakes.js';

const fixture = (name: string) => readFileSync(path.join(REPO, 'test/fixtures', name), 'utf8');

describe('virsh parsers (outputs recorded from virsh 9)', () => {
  it('reads every domain and its state, two-word states included', () => {
    expect(parseDomainList(fixture('virsh/list-all.txt'))).toEqual([
      { id: '1', name: 'vmlab-lab-web', state: 'running' },
      { id: '-', name: 'vmlab-lab-db', state: 'shut off' },
      { id: '-', name: 'other-vm', state: 'shut off' },
    ]);
  });

  it('reads state, vCPUs and memory from dominfo', () => {
    expect(parseDominfo(fixture('virsh/dominfo-running.txt'))).toEqual({ state: 'running', cpus: 2, memoryMiB: 2048 });
  });

  it('reads the IPv4 address from domifaddr, without the prefix length', () => {
    expect(parseDomifaddr(fixture('virsh/domifaddr.txt'))).toBe('192.168.123.45');
    expect(parseDomifaddr(' Name       MAC address          Protocol     Address\n-------------------------------\n')).toBeUndefined();
  });

  it('reads pool volumes', () => {
    expect(parseVolumeList(fixture('virsh/vol-list.txt')).map((volume) => volume.name)).toEqual([
      'vmlab-VAGRANTSLASH-docker_vagrant_box_image_0_box.img',
      'vmlab-lab-web.img',
    ]);
  });

  it.each([
    ['vmlab-lab-web.img', true],
    ['vmlab-lab-web-vdb.qcow2', true],
    ['vmlab-lab-web2.img', false],
    ['vmlab-VAGRANTSLASH-docker_vagrant_box_image_0_box.img', false],
  ])('a volume %s belongs to vmlab-lab-web: %s', (volume, belongs) => {
    expect(isVolumeOf('vmlab-lab-web', volume)).toBe(belongs);
  });
});

describe('vagrant', () => {
  it('builds argv arrays, never shell strings', () => {
    expect(vagrantArgs.up('web', { provision: 'no' })).toEqual(['up', 'web', '--provider=libvirt', '--no-provision']);
    // Vagrant's own rule: provisioners run at a machine's first up, also when its first up was cut off.
    expect(vagrantArgs.up('web', { provision: 'unless-done' })).toEqual(['up', 'web', '--provider=libvirt']);
    expect(vagrantArgs.ssh('web', 'echo $HOME; id')).toEqual(['ssh', 'web', '-c', 'echo $HOME; id']);
    expect(vagrantArgs.destroy('web')).toEqual(['destroy', '-f', 'web']);
  });

  it('reads versions and boxes', () => {
    expect(parseVagrantVersion('Vagrant 2.3.4\n')).toBe('2.3.4');
    expect(parsePluginVersion('vagrant-libvirt (0.11.2, system)\n', 'vagrant-libvirt')).toBe('0.11.2');
    expect(
      parseBoxList('1700000000,,box-name,vmlab/debian-12\n1700000000,,box-provider,libvirt\n1700000000,,box-version,0\n'),
    ).toEqual([{ name: 'vmlab/debian-12', provider: 'libvirt', version: '0' }]);
  });
});

describe('qemu-img backing chains', () => {
  it('lists the disk and every file under it', async () => {
    const { parseBackingChain } = await import('../../src/images/volumes-in-use.js');
    const stdout = JSON.stringify([
      { filename: '/var/lib/libvirt/images/vmlab-lab-web.img', 'full-backing-filename': '/var/lib/libvirt/images/vmlab-VAGRANTSLASH-docker_vagrant_box_image_0.1_box.img' },
      { filename: '/var/lib/libvirt/images/vmlab-VAGRANTSLASH-docker_vagrant_box_image_0.1_box.img' },
    ]);
    expect(new Set(parseBackingChain(stdout))).toEqual(
      new Set(['/var/lib/libvirt/images/vmlab-lab-web.img', '/var/lib/libvirt/images/vmlab-VAGRANTSLASH-docker_vagrant_box_image_0.1_box.img']),
    );
  });
});
