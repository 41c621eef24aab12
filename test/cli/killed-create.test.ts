import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { waitFor } from '../support/crash-kit.js';
import { domainList, healthChecks, hostReadings, libvirtUp, noDomains, type PlannedCall, REPO, runningStats, Sandbox, URI } from '../support/fakes.js';

/*
 * A `make create` killed outright (SIGKILL to its process group: make, vmlab and vagrant; no clean-up runs)
 * in each phase, then `make up`, which must converge without help (issue 13). The fakes cannot upload or
 * boot, so after the kill the plan says what libvirt would hold in each phase:
 * - before vagrant: nothing changed, not even lab.yaml;
 * - during the box upload: a box volume (cut off half way), no domain: removed, then a create uploads it again;
 * - during the boot or the provisioning: a running domain that was never provisioned (Vagrant writes its
 *   "provisioned" sentinel before the provisioners run): destroyed and made again, not taken as done;
 * - during the health checks: the machine was made; make up has nothing to do.
 */

const WEB = 'vmlab-lab-web';
const VOLUME = 'vmlab-VAGRANTSLASH-docker_vagrant_box_image_0.20261120100000_box.img';
const RECORD = (sandbox: Sandbox) => path.join(sandbox.home, 'first-up', `${WEB}.json`);
const up: PlannedCall = { tool: 'vagrant', args: ['up', 'web', '--provider=libvirt'] };
const HOLD = 60_000;

let sandbox: Sandbox;
beforeEach(async () => {
  sandbox = await Sandbox.create();
  await sandbox.seedImages();
  await writeFile(path.join(sandbox.labDir, 'lab.yaml'), 'name: lab\nmachines: {}\n');
});
afterEach(async () => sandbox.cleanup());

/** make create-docker NAME=web in its own process group, SIGKILLed as a whole once `ready` says so. */
async function createKilledWhen(plan: PlannedCall[], ready: () => Promise<boolean>): Promise<void> {
  await sandbox.plan(plan);
  const child = execa('make', ['-s', '-C', REPO, 'create-docker', 'NAME=web'], { env: sandbox.env(), extendEnv: false, reject: false, stdin: 'ignore', detached: true });
  try {
    await waitFor('the phase to kill in', async () => (await ready()) || undefined, 30_000);
  } finally {
    process.kill(-child.pid!, 'SIGKILL');
    await child;
  }
}

const heldUp: PlannedCall = { ...up, delayMs: HOLD };
const creating: PlannedCall[] = [libvirtUp, { ...noDomains, repeat: true }, ...hostReadings];

async function makeUp(plan: PlannedCall[]) {
  await sandbox.plan(plan);
  const result = await sandbox.make(['up']);
  return { result, calls: (await sandbox.calls()).map((call) => [call.tool, ...call.args.filter((word) => !URI.includes(word))].join(' ')) };
}

describe('make create killed with SIGKILL, then make up', () => {
  it('before vagrant (reading the host): nothing was declared or made; make up has nothing to do', async () => {
    await createKilledWhen([libvirtUp, { ...noDomains, repeat: true }, { ...runningStats(), delayMs: HOLD }, ...hostReadings], async () => (await sandbox.calls()).length > 0 && !existsSync(RECORD(sandbox)));
    expect(await sandbox.readLab()).toBe('name: lab\nmachines: {}\n');
    const { result } = await makeUp([libvirtUp, noDomains]);
    expect(result.exitCode, result.stderr).toBe(0);
    expect(result.stderr).toContain('The lab is up to date: nothing to do.');
  });

  it('during the box upload: the volume it left is removed, then the machine is created (the box uploaded again)', async () => {
    await createKilledWhen([...creating, heldUp], async () => existsSync(RECORD(sandbox)));
    expect(JSON.parse(await readFile(RECORD(sandbox), 'utf8'))).toMatchObject({ machine: 'web', domain: WEB, box: 'vmlab/docker', boxVersion: '0.20261120100000' });
    const plan = await sandbox.make(['plan']);
    expect(plan.stdout).toMatch(/^web\s+-\s+not created\s+create\s+its first up was cut off \(vmlab killed\?\): made again from image docker/m);

    const { result, calls } = await makeUp([
      libvirtUp,
      { ...noDomains, repeat: true },
      { tool: 'virsh', args: [...URI, 'vol-list', 'default'], stdout: ` Name   Path\n-----------------\n ${VOLUME}   /var/lib/libvirt/images/${VOLUME}\n\n`, repeat: true },
      { tool: 'virsh', args: [...URI, 'vol-delete', '--pool', 'default', VOLUME] },
      ...hostReadings,
      up,
      healthChecks('web', 2),
    ]);
    expect(result.exitCode, result.stderr).toBe(0);
    expect(result.stderr).toContain(`removing box volume ${VOLUME}: its upload may have been cut off; vagrant uploads it again`);
    expect(calls.indexOf(`virsh vol-delete --pool default ${VOLUME}`)).toBeLessThan(calls.indexOf('vagrant up web --provider=libvirt'));
    await sandbox.expectPlanDone();
    expect(existsSync(RECORD(sandbox)), 'the first up ended: its record goes').toBe(false);
  });

  for (const phase of ['the boot', 'the provisioning']) {
    it(`during ${phase}: the running, never provisioned domain is destroyed and made again, not taken as done`, async () => {
      await createKilledWhen([...creating, heldUp], async () => existsSync(RECORD(sandbox)));
      const { result, calls } = await makeUp([
        libvirtUp,
        domainList([[WEB, 'running']], true),
        { tool: 'virsh', args: [...URI, 'dominfo', WEB], stdout: 'State:          running\nCPU(s):         2\nMax memory:     2097152 KiB\n', repeat: true },
        ...hostReadings,
        { tool: 'vagrant', args: ['destroy', '-f', 'web'] },
        up,
        healthChecks('web', 2),
      ]);
      expect(result.exitCode, result.stderr).toBe(0);
      expect(result.stderr).toContain('web: create: its first up was cut off (vmlab killed?): made again from image docker');
      expect(result.stderr).toContain('removing what the interrupted first up of web left, to make it again');
      expect(calls.indexOf('vagrant destroy -f web')).toBeLessThan(calls.indexOf('vagrant up web --provider=libvirt'));
      await sandbox.expectPlanDone();
    });
  }

  it('during the health checks: the machine was made; make up has nothing to do', async () => {
    await createKilledWhen([...creating, up, { ...healthChecks('web', 2), delayMs: HOLD }], async () =>
      (await sandbox.calls()).some((call) => call.tool === 'vagrant' && call.args[0] === 'up') && !existsSync(RECORD(sandbox)),
    );
    const { result } = await makeUp([libvirtUp, domainList([[WEB, 'running']], true), { tool: 'virsh', args: [...URI, 'dominfo', WEB], stdout: 'State:          running\nCPU(s):         2\nMax memory:     2097152 KiB\n', repeat: true }]);
    expect(result.exitCode, result.stderr).toBe(0);
    expect(result.stderr).toContain('web is running, as declared: nothing to do');
  });
});
