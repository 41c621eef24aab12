import { describe, expect, it } from 'vitest';
import { findStaleWork } from '../../src/images/stale-builds.js';

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

  it('a dead build whose loop file was already deleted still has its loop device detached', () => {
    expect(findStaleWork(tmp, ['build-debian-12-777'], () => false, mounts, loops)[0]?.loops).toEqual(['/dev/loop4']);
  });
});
