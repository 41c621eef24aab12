import { existsSync } from 'node:fs';
import { chmod, copyFile, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { domainList, dominfo, hostReadings, libvirtUp, type PlannedCall, REPO, Sandbox, URI } from '../support/fakes.js';
import { changingCalls, expectMakeFailure, labState, seedQueue } from '../support/refusal-kit.js';

/*
 * State that vmlab can trust (issue 13, points 4 to 6 and 8): state files it cannot read or write, a
 * VMLAB_HOME it cannot use, a lab.yaml lost while the lab's VMs run, and what make doctor says about them.
 */

const LAB = 'name: lab\nmachines:\n  web:\n    role: docker\n';
const WEB = 'vmlab-lab-web';

let sandbox: Sandbox;
beforeEach(async () => {
  sandbox = await Sandbox.create();
  await sandbox.seedImages();
  await seedQueue(sandbox);
  await writeFile(path.join(sandbox.labDir, 'lab.yaml'), LAB);
});
afterEach(async () => sandbox.cleanup());

// Root reads any file whatever its mode, so the permission case runs the CLI as the user nobody
// (setpriv drops to uid/gid 65534): the read really fails with EACCES, as it does for a user whose
// checkout holds root's files.
const nobody = process.getuid?.() !== 0 || !existsSync('/usr/bin/setpriv');

describe('a state file this user may not read (EACCES, run as nobody)', { skip: nobody }, () => {
  /** make as the user nobody, in a sandbox nobody can enter; the fakes' log folder open to it. */
  async function makeAsNobody(args: string[]) {
    for (const dir of [sandbox.root, sandbox.labDir, sandbox.binDir]) await chmod(dir, 0o755);
    await chmod(sandbox.fakeDir, 0o777);
    return execa('/usr/bin/setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', 'make', '-s', '-C', REPO, ...args], {
      env: sandbox.env(),
      extendEnv: false,
      reject: false,
      stdin: 'ignore',
    });
  }

  it('the registry index readable only by root: make images names it with the fix, exit 1, nothing changed', async () => {
    await chmod(sandbox.home, 0o777);
    await chmod(path.join(sandbox.home, 'images'), 0o755);
    await chmod(path.join(sandbox.home, 'images/index.json'), 0o600);
    const before = await labState(sandbox);
    const result = await makeAsNobody(['images']);
    expectMakeFailure(result, 1);
    expect(result.stderr).toMatch(
      /error: cannot read the image registry index \(\S+\/home\/images\/index\.json\): permission denied\. Nothing was changed\.\n\s+next: Run vmlab as the user that owns it \(ls -ld \S+index\.json\)/,
    );
    expect(result.stderr).not.toContain('vmlab crashed');
    expect(await labState(sandbox)).toEqual(before);
  });

  it('a VMLAB_HOME this user may not write: create is refused before anything runs', async () => {
    await chmod(sandbox.home, 0o755);
    await sandbox.plan([libvirtUp]);
    const before = await labState(sandbox);
    const result = await makeAsNobody(['create-docker', 'NAME=x']);
    expectMakeFailure(result, 1);
    expect(result.stderr).toMatch(/error: VMLAB_HOME=\S+\/home cannot be written: this user may not write to it\. Nothing was changed\.\n\s+next: Run vmlab as the user that owns it/);
    expect(await labState(sandbox)).toEqual(before);
    expect(changingCalls(await sandbox.calls())).toEqual([]);
  });
});

describe('lab.yaml lost while the lab runs (issue 13.5)', () => {
  /** The lab as vmlab last wrote it: make render writes the Vagrantfile and remembers the lab. */
  async function renderOnce(text = LAB, name = 'lab'): Promise<void> {
    await sandbox.plan([libvirtUp]);
    const rendered = await sandbox.make(['render']);
    expect(rendered.exitCode, rendered.stderr).toBe(0);
    expect(JSON.parse(await readFile(path.join(sandbox.home, 'lab.json'), 'utf8'))).toEqual({ name, labDir: sandbox.labDir });
    expect(await readFile(path.join(sandbox.home, 'lab.yaml.last'), 'utf8')).toBe(text);
  }
  const webRuns: PlannedCall[] = [libvirtUp, domainList([[WEB, 'running'], ['vmlab-other-db', 'running']], true), ...hostReadings];

  for (const [how, lose] of [
    ['missing', () => rm(path.join(sandbox.labDir, 'lab.yaml'))],
    ['empty', () => writeFile(path.join(sandbox.labDir, 'lab.yaml'), '')],
  ] as const) {
    it(`lab.yaml ${how}: list, plan, up and create refuse, show the VMs as undeclared and the cp that puts lab.yaml back`, async () => {
      await renderOnce();
      await lose();
      await sandbox.plan(webRuns);
      const before = await labState(sandbox);
      for (const args of [['list'], ['plan'], ['up'], ['create-base', 'NAME=dev']]) {
        const result = await sandbox.make(args);
        expectMakeFailure(result, 1);
        expect(result.stderr).toMatch(
          new RegExp(
            `error: \\S*lab\\.yaml is ${how}, but this folder's lab "lab" still has VMs in libvirt, and nothing declares them now:\\n\\s+vmlab-lab-web\\s+running\\s+undeclared\\nNothing was changed\\.\\n` +
              `\\s+next: Put back the last lab\\.yaml vmlab wrote: cp ${sandbox.home}/lab\\.yaml\\.last ${sandbox.labDir}/lab\\.yaml \\(then: make list\\)`,
          ),
        );
        // Another lab's VM is not this lab's business.
        expect(result.stderr).not.toContain('vmlab-other-db');
      }
      expect(await labState(sandbox)).toEqual(before);
      expect(changingCalls(await sandbox.calls())).toEqual([]);

      // The hint works: lab.yaml is back and make list shows web again.
      await copyFile(path.join(sandbox.home, 'lab.yaml.last'), path.join(sandbox.labDir, 'lab.yaml'));
      await sandbox.plan([libvirtUp, domainList([[WEB, 'running']]), dominfo(WEB, 2, 2048), { tool: 'virsh', args: [...URI, 'domifaddr', WEB], stdout: '' }]);
      const listed = await sandbox.make(['list']);
      expect(listed.exitCode, listed.stderr).toBe(0);
      expect(listed.stdout).toMatch(/^web\s+docker\s+docker\s+running\s/m);
    });
  }

  it('lab.yaml missing and none of the lab\'s VMs left: an empty lab that keeps the remembered name', async () => {
    const mine = 'name: mine\nmachines:\n  web:\n    role: docker\n';
    await writeFile(path.join(sandbox.labDir, 'lab.yaml'), mine);
    await renderOnce(mine, 'mine');
    await rm(path.join(sandbox.labDir, 'lab.yaml'));
    await sandbox.plan([libvirtUp, domainList([['vmlab-other-db', 'running']], true)]);
    const listed = await sandbox.make(['list']);
    expect(listed.exitCode, listed.stderr).toBe(0);
    expect(listed.stdout).toContain('No machines yet');
    await sandbox.plan([libvirtUp, domainList([], true)]);
    const rendered = await sandbox.make(['render']);
    expect(rendered.exitCode, rendered.stderr).toBe(0);
    expect(await sandbox.readLab()).toMatch(/^name: mine$/m);
  });
});

describe('make doctor names the real problem (issues 13.6, 13.8)', () => {
  const doctorCalls: PlannedCall[] = [
    { tool: 'vagrant', args: ['--version'], stdout: 'Vagrant 2.3.4\n', repeat: true },
    { tool: 'vagrant', args: ['plugin', 'list'], stdout: 'vagrant-libvirt (0.11.2, system)\n', repeat: true },
    libvirtUp,
    { tool: 'virsh', args: [...URI, 'net-info', 'vmlab-mgmt'], stdout: 'Name:           vmlab-mgmt\nBridge:         virbr1\n', repeat: true },
  ];
  const pool = (): PlannedCall => ({ tool: 'virsh', args: [...URI, 'pool-dumpxml', 'default'], stdout: `<pool><target><path>${sandbox.root}</path></target></pool>\n`, repeat: true });

  it('a failed KVM test boot is a warning with the fallback, not OK, and not a failure', async () => {
    await sandbox.plan([...doctorCalls, pool()]);
    const result = await sandbox.make(['doctor']);
    expect(result.stdout).toMatch(/^WARN\s+kvm\s+a test boot under KVM failed: KVM internal error\. Suberror: 1; VMs use QEMU software emulation instead \(several times slower\)/m);
    expect(result.stdout).not.toMatch(/^OK\s+kvm\s/m);
    expect(result.stdout).toMatch(/^OK\s+VMLAB_HOME\s+\S+\/home, writable/m);
    expect(result.exitCode, result.stderr).toBe(0);
  });

  it('VMLAB_HOME that does not exist: a FAIL line that says so, and no blame on free disk space', async () => {
    await sandbox.plan([...doctorCalls, pool()]);
    const missing = path.join(sandbox.root, 'no-such-home');
    const result = await sandbox.make(['doctor'], { VMLAB_HOME: missing });
    expectMakeFailure(result, 1);
    expect(result.stdout).toMatch(new RegExp(`^FAIL\\s+VMLAB_HOME\\s+VMLAB_HOME=${missing} does not exist\\s+Check the path`, 'm'));
    expect(result.stdout).not.toMatch(/free disk \(VMLAB_HOME\)/);
    expect(result.stderr).toMatch(/1 check\(s\) failed: VMLAB_HOME/);
    expect(existsSync(missing)).toBe(false);
  });
});
