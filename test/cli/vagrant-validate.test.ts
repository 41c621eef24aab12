import { execa } from 'execa';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Sandbox } from '../support/fakes.js';

const hasVagrant = await execa('vagrant', ['--version'], { reject: false, env: { VAGRANT_CHECKPOINT_DISABLE: '1' } }).then(
  (result) => result.exitCode === 0,
  () => false,
);

let sandbox: Sandbox;
beforeEach(async () => {
  sandbox = await Sandbox.create();
});
afterEach(async () => sandbox.cleanup());

/** The real vagrant (with the vagrant-libvirt plugin) must accept what `make render` writes. */
describe.skipIf(!hasVagrant)('the rendered Vagrantfile and the real vagrant', () => {
  it('vagrant validate accepts a lab of every role, with a network, addresses, a provision script and a secret', async () => {
    await sandbox.plan([]);
    const roles = ['base', 'docker', 'k8s', 'lxd', 'kata', 'observer'];
    const lines = roles.map((role, index) => `  ${role}-1:\n    role: ${role}\n    network: back\n    ip: 10.20.0.${11 + index}\n`).join('');
    const extra = '  db:\n    role: base\n    ip: 10.30.0.5/24\n    provision: [setup.sh]\n    secrets: [DB_PASSWORD]\n';
    await import('node:fs/promises').then(async (fs) => {
      await fs.writeFile(`${sandbox.labDir}/setup.sh`, '#!/bin/sh\ntrue\n');
      await fs.writeFile(`${sandbox.labDir}/lab.yaml`, `name: lab\nnetworks:\n  back: 10.20.0.0/24\nmachines:\n${lines}${extra}`);
    });
    const render = await sandbox.make(['render']);
    expect(render.exitCode, render.stderr).toBe(0);
    const validate = await execa('vagrant', ['validate'], {
      cwd: sandbox.labDir,
      reject: false,
      env: { VAGRANT_CHECKPOINT_DISABLE: '1', HOME: process.env.HOME },
    });
    expect(validate.stdout + validate.stderr).toContain('Vagrantfile validated successfully');
    expect(validate.exitCode).toBe(0);
  });
});
