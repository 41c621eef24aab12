import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { healthChecks, hostReadings, libvirtUp, noDomains, type PlannedCall, Sandbox } from '../support/fakes.js';

// What vagrant 2.3.4 with vagrant-libvirt 0.11.2 prints for a first up (shortened where it repeats).
const VAGRANT_UP = [
  "Bringing machine 'web' up with 'libvirt' provider...",
  '==> web: Checking if box \'vmlab/docker\' version \'1\' is up to date...',
  '==> web: Creating image (snapshot of base box volume).',
  '==> web: Creating domain with the following settings...',
  '==> web:  -- Name:              vmlab-lab-web',
  '==> web:  -- Memory:            2048M',
  '==> web: Starting domain.',
  '==> web: Waiting for domain to get an IP address...',
  '==> web: Waiting for machine to boot. This may take a few minutes...',
  '    web: SSH address: 192.168.123.45:22',
  '==> web: Machine booted and ready!',
  '==> web: Setting hostname...',
  '==> web: Running provisioner: feature-lib (file)...',
  '==> web: Running provisioner: feature-essentials (shell)...',
  '    web: Running: /tmp/vagrant-shell20261202-1-abc.sh',
  ...Array.from({ length: 40 }, (_, index) => `    web: Unpacking package-${index} (1.0-1) ...`),
  '==> web: Running provisioner: feature-guest-agent (shell)...',
  '    web: Created symlink /etc/systemd/system/multi-user.target.wants/qemu-guest-agent.service.',
  '==> web: Running provisioner: feature-time-sync (shell)...',
  ...Array.from({ length: 40 }, (_, index) => `    web: Setting up chrony-part-${index} (1.0-1) ...`),
];

let sandbox: Sandbox;
beforeEach(async () => {
  sandbox = await Sandbox.create();
  await sandbox.seedImages();
});
afterEach(async () => sandbox.cleanup());

const upWeb = (extra: Partial<PlannedCall> = {}): PlannedCall => ({ tool: 'vagrant', args: ['up', 'web', '--provider=libvirt'], stdout: `${VAGRANT_UP.join('\n')}\n`, ...extra });

async function machineLog(): Promise<string> {
  const logs = await readdir(path.join(sandbox.home, 'logs'));
  const log = logs.find((name) => name.startsWith('up-web-'));
  expect(log, logs.join(', ')).toBeDefined();
  return readFile(path.join(sandbox.home, 'logs', log!), 'utf8');
}

// debian-12 without the base role's features: the create provisions them at first boot, as a user's own
// image or AUTO_BUILD=0 does, so that every kind of step shows.
describe('the step display of a create', () => {
  it('in a pipe: one line per step with its time; vagrant\'s output only in the machine\'s log', async () => {
    await sandbox.plan([libvirtUp, noDomains, ...hostReadings, upWeb(), healthChecks('web', 3)]);
    const result = await sandbox.make(['create-base', 'NAME=web', 'IMAGE=debian-12']);
    expect(result.exitCode, result.stderr).toBe(0);
    const lines = result.stderr.trim().split('\n');
    for (const step of ['prepare', 'boot', 'ssh', 'configure', 'provision lib 1/4', 'provision essentials 2/4', 'provision guest-agent 3/4', 'provision time-sync 4/4']) {
      expect(result.stderr).toMatch(new RegExp(`^web  ${step}\\s+✔ \\d+ s$`, 'm'));
    }
    expect(result.stderr).toMatch(/^web {2}checks\s+✔ 3\/3 pass {2}\d+ s$/m);
    expect(result.stderr).toContain('web is up. Shell: make ssh NAME=web');
    expect(result.stderr).not.toContain('Unpacking');
    expect(lines.length, result.stderr).toBeLessThanOrEqual(20);
    const log = await machineLog();
    expect(log).toContain('Unpacking package-39 (1.0-1) ...');
    expect(log).toContain('Running provisioner: feature-time-sync (shell)...');
    expect(result.stderr).not.toMatch(/^web {2}up /m);
  });

  it('remembers how long each step took, for the next ETA', async () => {
    await sandbox.plan([libvirtUp, noDomains, ...hostReadings, upWeb(), healthChecks('web', 3)]);
    expect((await sandbox.make(['create-base', 'NAME=web', 'IMAGE=debian-12'])).exitCode).toBe(0);
    const times = JSON.parse(await readFile(path.join(sandbox.home, 'step-times.json'), 'utf8')) as { steps: Record<string, number[]> };
    expect(Object.keys(times.steps)).toEqual(expect.arrayContaining(['up boot', 'up ssh', 'up provision feature-time-sync', 'up checks']));
  });

  it('QUIET=1 shows only the result', async () => {
    await sandbox.plan([libvirtUp, noDomains, ...hostReadings, upWeb(), healthChecks('web', 3)]);
    const result = await sandbox.make(['create-base', 'NAME=web', 'IMAGE=debian-12', 'QUIET=1']);
    expect(result.exitCode, result.stderr).toBe(0);
    expect(result.stderr).not.toMatch(/^web {2}/m);
    expect(result.stderr.trim().split('\n').length, result.stderr).toBeLessThanOrEqual(2);
  });

  it('VERBOSE=1 streams vagrant\'s own output', async () => {
    await sandbox.plan([libvirtUp, noDomains, ...hostReadings, upWeb(), healthChecks('web', 3)]);
    const result = await sandbox.make(['create-base', 'NAME=web', 'IMAGE=debian-12', 'VERBOSE=1']);
    expect(result.exitCode, result.stderr).toBe(0);
    expect(result.stdout + result.stderr).toContain('Unpacking package-39 (1.0-1) ...');
  });

  it('a failing provision names its step and shows the last 20 lines of its log, the log\'s path and the next step', async () => {
    const failing = [...VAGRANT_UP, '    web: E: Unable to locate package chrony', 'The SSH command responded with a non-zero exit status. Vagrant'];
    await sandbox.plan([libvirtUp, noDomains, ...hostReadings, upWeb({ stdout: `${failing.join('\n')}\n`, exitCode: 1 })]);
    const result = await sandbox.make(['create-base', 'NAME=web', 'IMAGE=debian-12']);
    expect(result.exitCode).not.toBe(0);
    expect(result.stderr).toContain('error: web did not come up (vagrant exited with 1)');
    expect(result.stderr).toContain('failed at: provision time-sync 4/4');
    const tail = /last 20 lines of (\S+\.log):\n((?: {4}.*\n){20})/.exec(result.stderr);
    expect(tail, result.stderr).not.toBeNull();
    expect(tail![2]).toContain('E: Unable to locate package chrony');
    expect(tail![2]).not.toContain('Unpacking');
    expect(result.stderr).toMatch(/^web  provision time-sync 4\/4\s+✖ \d+ s$/m);
    expect(tail![1]).toBe(path.join(sandbox.home, 'logs', path.basename(tail![1]!)));
    expect(result.stderr).toMatch(/next: Read its log: \S+\.log\. Retry: make create-base NAME=web IMAGE=debian-12/);
  });
});
