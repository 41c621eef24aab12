import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { exportSandbox, makeVmDisk, readIndex } from '../support/crash-kit.js';
import type { Sandbox } from '../support/fakes.js';

/*
 * A full disk during an export, on small file systems made for the test (tmpfs): the real CLI and the real
 * scripts/image/export-disk.sh on a real small VM disk; only vagrant and virsh are fakes. A full disk is
 * refused with a clear message and the way out; nothing is registered, nothing half-written is left.
 */
const notRoot = process.getuid?.() !== 0;

describe('the disk full during an export', { skip: notRoot }, () => {
  let diskDir: string;
  let disk: string;
  let sandbox: Sandbox;
  const mounts: string[] = [];

  async function smallFs(name: string, size: string): Promise<string> {
    const dir = path.join(sandbox.root, name);
    await mkdir(dir, { recursive: true });
    await execa('mount', ['-t', 'tmpfs', '-o', `size=${size}`, `vmlab-test-${name}`, dir]);
    mounts.push(dir);
    return dir;
  }

  beforeAll(async () => {
    diskDir = await mkdtemp(path.join(os.tmpdir(), 'vmlab-full-disk-'));
    disk = await makeVmDisk(diskDir);
  });
  afterAll(async () => rm(diskDir, { recursive: true, force: true }));
  beforeEach(async () => {
    sandbox = await exportSandbox(disk, ['sfdisk', 'fstrim', 'qemu-img']);
  });
  afterEach(async () => {
    for (const dir of mounts.splice(0)) await execa('umount', [dir], { reject: false });
    await sandbox.cleanup();
  });

  it('VMLAB_HOME too small for the work: refused before the builder starts, nothing changed', async () => {
    const home = await smallFs('smallhome', '24m');
    await execa('cp', ['-a', `${sandbox.home}/.`, home]);
    const before = await sandbox.snapshot();
    const result = await sandbox.make(['export', 'NAME=web', 'TARGET=golden'], { VMLAB_HOME: home });
    expect(result.exitCode).not.toBe(0);
    expect(result.stderr).toMatch(/error: not enough free space to export web: it needs about [\d.]+ GiB under \S+, [\d.]+ GiB is free/);
    expect(result.stderr).toContain('next: Free some space (make gc lists what vmlab can remove), or set VMLAB_HOME to a larger disk');
    expect(Object.keys((await readIndex(home)).images).sort()).toEqual(['base', 'debian-12', 'docker']);
    expect(await readdir(path.join(home, 'tmp')).catch(() => [])).toEqual([]);
    expect(await sandbox.snapshot()).toEqual(before);
  });

  it('FILE= on a disk too small for the box: refused with the sizes, nothing registered, no partial file left', async () => {
    const share = await smallFs('share', '64k');
    const file = path.join(share, 'golden.box');
    const result = await sandbox.make(['export', 'NAME=web', 'TARGET=golden', `FILE=${file}`]);
    expect(result.exitCode).not.toBe(0);
    expect(result.stderr).toMatch(new RegExp(`error: not enough free space for FILE=${file}: the box is \\d+ MiB, 0 MiB is free in ${share}`));
    expect(result.stderr).not.toContain('vmlab crashed');
    expect(await readdir(share)).toEqual([]);
    expect(Object.keys((await readIndex(sandbox.home)).images).sort()).toEqual(['base', 'debian-12', 'docker']);
    expect(existsSync(path.join(sandbox.home, 'images/golden'))).toBe(false);
    expect(await readdir(path.join(sandbox.home, 'tmp')).catch(() => [])).toEqual([]);
    // With room again, the same export goes through.
    const again = await sandbox.make(['export', 'NAME=web', 'TARGET=golden', `FILE=${path.join(sandbox.root, 'golden.box')}`]);
    expect(again.exitCode, again.stderr).toBe(0);
    expect(Object.keys((await readIndex(sandbox.home)).images)).toContain('golden');
  });

  it('a disk that fills while vmlab writes: "no space left", exit 1, never a crash report', async () => {
    // The registry's index on a full file system: registering the built box fails mid-write.
    const full = await smallFs('full', '64k');
    await execa('cp', ['-a', `${sandbox.home}/images`, full]);
    await execa('dd', ['if=/dev/zero', `of=${path.join(full, 'filler')}`, 'bs=4k', 'count=64', 'status=none'], { reject: false });
    const home = path.join(sandbox.root, 'home2');
    await execa('cp', ['-a', sandbox.home, home]);
    await rm(path.join(home, 'images'), { recursive: true });
    await execa('ln', ['-s', path.join(full, 'images'), path.join(home, 'images')]);
    const result = await sandbox.make(['export', 'NAME=web', 'TARGET=golden'], { VMLAB_HOME: home });
    expect(result.exitCode).not.toBe(0);
    expect(result.stderr).not.toContain('vmlab crashed');
    expect(result.stderr).toMatch(/^error: no space left on the device \(\S+\)\n  next: free some space \(make gc lists what vmlab can remove\), then retry$/m);
    expect(Object.keys((await readIndex(home)).images).sort()).toEqual(['base', 'debian-12', 'docker']);
    expect(await readdir(path.join(home, 'tmp')).catch(() => [])).toEqual([]);
  });
});
