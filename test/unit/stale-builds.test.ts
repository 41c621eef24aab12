import { describe, expect, it } from 'vitest';
import { findStaleWork, parseWorkFolder } from '../../src/images/stale-builds.js';

const tmp = '/home/u/.vmlab/tmp';
const mounts = [
  'proc /proc proc rw 0 0',
  '/dev/loop3 /home/u/.vmlab/tmp/build-debian-12-4242/work/mnt ext4 rw 0 0',
  'tmpfs /home/u/.vmlab/tmp/build-debian-12-4242/work/mnt/run tmpfs rw 0 0',
  '/dev/loop4 /home/u/.vmlab/tmp/build-debian-12-777/work/mnt ext4 rw 0 0',
  '/dev/loop5 /mnt/with\\040space ext4 rw 0 0',
].join('\n');
const loops = [
  { name: '/dev/loop3', 'back-file': '/home/u/.vmlab/tmp/build-debian-12-4242/work/disk.raw' },
  { name: '/dev/loop4', 'back-file': '/home/u/.vmlab/tmp/build-debian-12-777/work/disk.raw (deleted)' },
  { name: '/dev/loop6', 'back-file': null },
];

describe('work left by a build that was killed outright', () => {
  it('finds the folders of dead builds with their mounts (deepest first) and loop devices', () => {
    const alive = (pid: number) => pid === 777;
    expect(findStaleWork(tmp, ['build-debian-12-4242', 'build-debian-12-777', 'kvm-probe-x', 'build-odd'], alive, mounts, loops)).toEqual([
      {
        dir: `${tmp}/build-debian-12-4242`,
        mounts: [`${tmp}/build-debian-12-4242/work/mnt/run`, `${tmp}/build-debian-12-4242/work/mnt`],
        loops: ['/dev/loop3'],
      },
    ]);
  });

  it('leaves a running build alone, and a folder a live builder still names after its vmlab was killed', () => {
    expect(findStaleWork(tmp, ['build-debian-12-777'], () => true, mounts, loops)).toEqual([]);
    const builderStillRuns = (_pid: number, dir: string) => dir.endsWith('-4242');
    expect(findStaleWork(tmp, ['build-debian-12-4242'], builderStillRuns, mounts, loops)).toEqual([]);
  });

  it('the work folders of exports and clones count too; other folders never do', () => {
    const entries = ['export-web-golden-31', 'clone-web2-32', 'export-clone-web2-33', 'verify-abc', 'build-', 'exports-x-1', 'clone-x-0'];
    expect(findStaleWork(tmp, entries, () => false, '', []).map((stale) => stale.dir)).toEqual([`${tmp}/export-web-golden-31`, `${tmp}/clone-web2-32`, `${tmp}/export-clone-web2-33`]);
    expect(parseWorkFolder('export-clone-web2-33')).toEqual({ job: 'export', name: 'clone-web2', pid: 33 });
    expect(parseWorkFolder('build-ubuntu-24.04-4242')).toEqual({ job: 'build', name: 'ubuntu-24.04', pid: 4242 });
  });

  it('a dead build whose loop file was already deleted still has its loop device detached', () => {
    expect(findStaleWork(tmp, ['build-debian-12-777'], () => false, mounts, loops)[0]?.loops).toEqual(['/dev/loop4']);
  });
});
