import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { mergeUserData, parseUserData, renderUserData, seedMetaDataFor } from '../../src/lab/cloud-init-user-data.js';

const values = { name: 'web', address: '10.20.0.11', lab: 'demo', domain: 'vmlab-demo-web' };
const needs = { hostname: 'web', authorizedKey: 'ssh-ed25519 AAAAmachine vmlab-demo-web' };

describe('cloud-init user-data templates', () => {
  it('fills in the machine name, address, lab and domain, with or without spaces', () => {
    expect(renderUserData('#cloud-config\nfqdn: {{name}}.{{ lab }}\nip: "{{ address }}"\nd: {{  domain }}\n', values)).toEqual({
      text: '#cloud-config\nfqdn: web.demo\nip: "10.20.0.11"\nd: vmlab-demo-web\n',
      issues: [],
    });
  });

  it('names an unknown placeholder at its line and column', () => {
    expect(renderUserData('#cloud-config\n\nx: a {{ hostnme }}\n', values).issues).toEqual([
      expect.objectContaining({ line: 3, column: 6, message: expect.stringContaining('unknown placeholder {{ hostnme }}') }),
    ]);
  });
});

describe('parseUserData', () => {
  it('takes a #cloud-config mapping, and an empty one', () => {
    expect(parseUserData('#cloud-config\npackages: [tree]\n')).toEqual({ config: { packages: ['tree'] }, issues: [] });
    expect(parseUserData('#cloud-config\n')).toEqual({ config: {}, issues: [] });
  });

  it('refuses a duplicated key with its line', () => {
    expect(parseUserData('#cloud-config\npackages: [a]\npackages: [b]\n').issues[0]).toMatchObject({ line: 3, message: expect.stringContaining('not valid YAML') });
  });
});

describe('mergeUserData', () => {
  it("adds the vagrant user with the machine's key, the host name and the guest agent to the user's config", () => {
    const merged = mergeUserData({ packages: ['tree'], write_files: [{ path: '/etc/x', content: 'y' }] }, needs);
    expect(merged.split('\n')[0]).toBe('#cloud-config');
    expect(parse(merged)).toEqual({
      ssh_genkeytypes: ['ed25519'],
      packages: ['tree', 'qemu-guest-agent'],
      write_files: [{ path: '/etc/x', content: 'y' }],
      hostname: 'web',
      preserve_hostname: false,
      manage_etc_hosts: 'localhost',
      users: [{ name: 'vagrant', gecos: 'Vagrant', shell: '/bin/bash', sudo: 'ALL=(ALL) NOPASSWD:ALL', lock_passwd: true, ssh_authorized_keys: [needs.authorizedKey] }],
    });
  });

  it("keeps the user's own users and extends their vagrant entry instead of replacing vmlab's", () => {
    const merged = parse(
      mergeUserData({ users: ['default', { name: 'ops', groups: 'sudo' }, { name: 'vagrant', groups: 'docker', ssh_authorized_keys: ['ssh-ed25519 mine'], sudo: false }], ssh_genkeytypes: ['rsa'] }, needs),
    );
    expect(merged.ssh_genkeytypes).toEqual(['rsa']);
    expect(merged.users).toEqual([
      'default',
      { name: 'ops', groups: 'sudo' },
      expect.objectContaining({ name: 'vagrant', groups: 'docker', sudo: 'ALL=(ALL) NOPASSWD:ALL', ssh_authorized_keys: [needs.authorizedKey, 'ssh-ed25519 mine'] }),
    ]);
  });

  it('the host name always is the machine name, whatever the user-data says', () => {
    expect(parse(mergeUserData({ hostname: 'other' }, needs)).hostname).toBe('web');
  });

  it('meta-data names a fresh instance per VM', () => {
    expect(seedMetaDataFor('vmlab-demo-web', 'web', 'abc')).toBe('instance-id: vmlab-demo-web-abc\nlocal-hostname: web\n');
  });
});
