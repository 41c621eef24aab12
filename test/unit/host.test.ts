import { describe, expect, it } from 'vitest';
import { mirrorForSuite, parseDeb822Sources, parseOneLineSources } from '../../src/host/apt-sources.js';
import { judgeProbe } from '../../src/host/kvm-probe.js';
import { parseMissingPackages, parseOsRelease } from '../../src/host/packages.js';
import { overlaps, parseRoutes } from '../../src/host/routes.js';

describe('apt sources', () => {
  const deb822 = `Types: deb
URIs: http://mirror.example/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://mirror.example/debian-security
Suites: bookworm-security
Components: main

Types: deb
Enabled: no
URIs: http://disabled.example/ubuntu
Suites: noble
`;
  it('finds the mirror that carries the suite itself, not -security or -updates', () => {
    expect(mirrorForSuite(parseDeb822Sources(deb822), 'bookworm')).toBe('http://mirror.example/debian');
    expect(mirrorForSuite(parseDeb822Sources(deb822), 'bookworm-security')).toBe('http://mirror.example/debian-security');
  });

  it('ignores disabled stanzas and says nothing where no source has the suite', () => {
    expect(mirrorForSuite(parseDeb822Sources(deb822), 'noble')).toBeUndefined();
  });

  it('reads one-line sources with options and comments', () => {
    const text = '# comment\ndeb [arch=amd64 signed-by=/k.gpg] http://mirror.example/ubuntu/ noble main universe\ndeb-src http://x/ubuntu noble main\n';
    expect(mirrorForSuite(parseOneLineSources(text), 'noble')).toBe('http://mirror.example/ubuntu');
  });
});

describe('KVM probe verdict', () => {
  it.each([
    ['KVM internal error. Suberror: 1\nemulation failure\n', false, { works: false, detail: 'KVM internal error. Suberror: 1' }],
    ['SeaBIOS (version 1.16)\n[    0.000000] Linux version 6.1.0-50-cloud-amd64\n', false, { works: true, detail: 'the kernel booted under KVM' }],
    ['qemu-system-x86_64: failed to initialize kvm: Permission denied\n', false, { works: false, detail: 'qemu-system-x86_64: failed to initialize kvm: Permission denied' }],
    ['SeaBIOS (version 1.16)\nBooting from Hard Disk...\n', true, { works: false, detail: 'no kernel output within 30 s under KVM' }],
  ])('%j (timed out: %s)', (output, timedOut, verdict) => {
    expect(judgeProbe(output, timedOut)).toEqual(verdict);
  });

  it('has no verdict yet while the boot is still going', () => {
    expect(judgeProbe('SeaBIOS (version 1.16)\n', false)).toBeUndefined();
  });
});

describe('host packages and OS', () => {
  it('lists the packages dpkg does not report installed', () => {
    const stdout = 'vagrant installed\nqemu-utils not-installed\nlibvirt-clients installed\n';
    expect(parseMissingPackages(stdout, ['vagrant', 'qemu-utils', 'libvirt-clients', 'mmdebstrap'])).toEqual(['qemu-utils', 'mmdebstrap']);
  });

  it('reads the distribution and what it is like', () => {
    expect(parseOsRelease('ID=ubuntu\nID_LIKE=debian\n')).toEqual({ id: 'ubuntu', like: ['debian'] });
    expect(parseOsRelease('ID="linuxmint"\nID_LIKE="ubuntu debian"\n')).toEqual({ id: 'linuxmint', like: ['ubuntu', 'debian'] });
  });
});

describe('management network clash', () => {
  it.each([
    ['192.168.123.0/24', '192.168.123.0/24', true],
    ['192.168.123.0/24', '192.168.0.0/16', true],
    ['192.168.123.0/24', '192.168.124.0/24', false],
    ['192.168.123.0/24', '10.0.0.0/8', false],
    ['192.168.123.0/24', '192.168.123.7', true],
  ])('%s and %s overlap: %s', (a, b, expected) => expect(overlaps(a, b)).toBe(expected));

  it('reads routes with their devices, skipping the default route', () => {
    const stdout = 'default via 192.0.2.1 dev eth0\n192.0.2.0/24 dev eth0 proto kernel scope link src 192.0.2.2\n192.168.123.0/24 dev virbr1 proto kernel scope link src 192.168.123.1\n';
    expect(parseRoutes(stdout)).toEqual([
      { destination: '192.0.2.0/24', device: 'eth0' },
      { destination: '192.168.123.0/24', device: 'virbr1' },
    ]);
  });
});
