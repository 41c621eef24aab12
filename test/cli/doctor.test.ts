import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { REPO, Sandbox } from '../support/fakes.js';

const URI = ['-c', 'qemu:///system'];
const connectFailed = readFileSync(path.join(REPO, 'test/fixtures/virsh/connect-failed.stderr'), 'utf8');

let sandbox: Sandbox;
beforeEach(async () => {
  sandbox = await Sandbox.create();
});
afterEach(async () => sandbox.cleanup());

describe('make doctor', () => {
  it('libvirtd down: FAIL lines with the fix, a non-zero exit, and doctor changes nothing', async () => {
    await sandbox.plan([
      { tool: 'vagrant', args: ['--version'], stdout: 'Vagrant 2.3.4\n', repeat: true },
      { tool: 'vagrant', args: ['plugin', 'list'], stdout: 'vagrant-libvirt (0.11.2, system)\n', repeat: true },
      { tool: 'virsh', args: [...URI, 'version'], exitCode: 1, stderr: connectFailed, repeat: true },
      { tool: 'virsh', args: [...URI, 'pool-dumpxml', 'default'], exitCode: 1, stderr: connectFailed, repeat: true },
      { tool: 'virsh', args: [...URI, 'net-info', 'vmlab-mgmt'], exitCode: 1, stderr: connectFailed, repeat: true },
    ]);
    const json = await sandbox.make(['doctor', 'JSON=1']);
    expect(json.exitCode).not.toBe(0);
    const checks = JSON.parse(json.stdout) as { check: string; ok: boolean; detail: string; fix?: string }[];
    expect(checks).toContainEqual({ check: 'vagrant', ok: true, detail: '2.3.4' });
    expect(checks).toContainEqual({ check: 'vagrant-libvirt', ok: true, detail: '0.11.2' });
    expect(checks).toContainEqual(expect.objectContaining({ check: 'libvirtd', ok: false, fix: 'make setup (starts libvirtd)' }));
    expect(checks).toContainEqual(expect.objectContaining({ check: 'pool default', ok: false, fix: 'make setup (creates it)' }));
    expect(checks.find((check) => check.check === 'driver')?.detail).toMatch(/^(kvm|qemu): /);

    const table = await sandbox.make(['doctor']);
    expect(table.stdout).toMatch(/^FAIL\s+libvirtd\s+Failed to connect socket .*make setup/m);
    expect(table.stderr).toContain('2 check(s) failed: libvirtd, pool default');
    expect(await sandbox.snapshot()).toEqual({ lab: undefined, vagrantfile: undefined });
    expect((await sandbox.calls()).filter((call) => call.unplanned)).toEqual([]);
  });
});
