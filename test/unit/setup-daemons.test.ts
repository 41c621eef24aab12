import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Context } from '../../src/context.js';
import { startDaemons } from '../../src/host/setup.js';
import type { Runner } from '../../src/runner.js';

/** A host without systemd where neither daemon runs yet: what make setup runs to start them. */
async function startOn(programs: string[]): Promise<string[][]> {
  dir = await mkdtemp(path.join(os.tmpdir(), 'vmlab-daemons-'));
  for (const program of programs) {
    await writeFile(path.join(dir, program), '#!/bin/sh\n');
    await chmod(path.join(dir, program), 0o755);
  }
  const calls: string[][] = [];
  let started = false;
  const runner: Runner = {
    dryRun: false,
    async run(file, args) {
      calls.push([file, ...args]);
      const name = path.basename(file);
      if (name === 'virsh') return { exitCode: started ? 0 : 1, stdout: '', stderr: '' };
      if (name === 'pgrep') return { exitCode: 1, stdout: '', stderr: '' };
      if ([file, ...args].join(' ').includes('libvirtd')) started = true;
      return { exitCode: 0, stdout: '', stderr: '' };
    },
  };
  const context = { runner, env: { PATH: dir }, libvirtUri: 'qemu:///system', dryRun: false } as unknown as Context;
  await startDaemons(context, () => {});
  return calls.filter(([file]) => !['virsh', 'pgrep'].includes(path.basename(file!)));
}

let dir = '';
afterEach(() => rm(dir, { recursive: true, force: true }));

describe('starting libvirt daemons without systemd', () => {
  it('goes through start-stop-daemon, so the daemons inherit no descriptor or folder of the caller', async () => {
    const calls = await startOn(['start-stop-daemon', 'virtlogd', 'libvirtd']);
    expect(calls).toEqual(['virtlogd', 'libvirtd'].map((daemon) => [
      path.join(dir, 'start-stop-daemon'), '--start', '--oknodo', '--background', '--exec', path.join(dir, daemon), '--', '--daemon',
    ]));
  });

  it('falls back to the daemons own --daemon where the host has no start-stop-daemon', async () => {
    expect(await startOn(['virtlogd', 'libvirtd'])).toEqual([['virtlogd', '--daemon'], ['libvirtd', '--daemon']]);
  });
});
