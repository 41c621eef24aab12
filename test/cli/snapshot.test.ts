import { existsSync, readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type PlannedCall, REPO, Sandbox } from '../support/fakes.js';

const fixture = (name: string) => readFileSync(path.join(REPO, 'test/fixtures', name), 'utf8');
const URI = ['-c', 'qemu:///system'];
const WEB = 'vmlab-lab-web';
const DB = 'vmlab-lab-db';
const noNetworks: PlannedCall = { tool: 'virsh', args: [...URI, 'net-list', '--all', '--name'], stdout: 'default\n' };
const libvirtUp: PlannedCall = { tool: 'virsh', args: [...URI, 'version'], stdout: 'Running hypervisor: QEMU 7.2.0\n', repeat: true };
const domains = (rows: [string, string][] = [[WEB, 'running'], [DB, 'shut off']]): PlannedCall => ({
  tool: 'virsh',
  args: [...URI, 'list', '--all'],
  stdout: ` Id   Name            State\n--------------------------------\n${rows.map(([name, state], index) => ` ${state === 'running' ? index + 1 : '-'}    ${name}   ${state}\n`).join('')}\n`,
});
const snapshotList = (domain: string, stdout = fixture('virsh/snapshot-list.txt')): PlannedCall => ({ tool: 'virsh', args: [...URI, 'snapshot-list', domain], stdout });
const noSnapshots = (domain: string) => snapshotList(domain, fixture('virsh/snapshot-list-empty.txt'));
const create = (domain: string, label: string, fail?: string): PlannedCall => ({
  tool: 'virsh',
  args: [...URI, 'snapshot-create-as', '--domain', domain, '--name', label, '--description', 'vmlab snapshot', '--atomic'],
  ...(fail ? { exitCode: 1, stderr: fail } : {}),
});
const remove = (domain: string, label: string): PlannedCall => ({ tool: 'virsh', args: [...URI, 'snapshot-delete', '--domain', domain, '--snapshotname', label] });
const domstate = (domain: string, state: string): PlannedCall => ({ tool: 'virsh', args: [...URI, 'domstate', domain], stdout: `${state}\n\n` });
const setClock = (domain: string): PlannedCall => ({ tool: 'virsh', args: [...URI, 'domtime', domain, '--now'] });
/** `virsh domtime`: the guest's clock, `offset` seconds from the host's now (the plan is written just before the run). */
const readClock = (domain: string, offset: number): PlannedCall => ({ tool: 'virsh', args: [...URI, 'domtime', domain], stdout: `Time: ${Math.floor(Date.now() / 1000) + offset}\n` });
const PFLASH = 'error: Operation not supported: internal snapshots of a VM with pflash based firmware are not supported\n';

let sandbox: Sandbox;
beforeEach(async () => {
  sandbox = await Sandbox.create();
  await sandbox.seedImages();
  await writeFile(path.join(sandbox.labDir, 'lab.yaml'), 'name: lab\nmachines:\n  web:\n    role: docker\n  db:\n    role: base\n');
});
afterEach(async () => sandbox.cleanup());

/** The virsh subcommands called, in order (without -c URI), and never the version probe. */
async function virshCalls(): Promise<string[][]> {
  return (await sandbox.calls()).filter((call) => call.tool === 'virsh' && call.args[2] !== 'version').map((call) => call.args.slice(2));
}

describe('make snapshot ACTION=create', () => {
  it('takes an internal snapshot of a running VM and changes no file', async () => {
    await sandbox.plan([libvirtUp, domains(), noSnapshots(WEB), create(WEB, 'before')]);
    const before = await sandbox.snapshot();
    const result = await sandbox.make(['snapshot', 'NAME=web', 'ACTION=create', 'SNAP=before']);
    expect(result.exitCode, result.stderr).toBe(0);
    expect(result.stderr).toContain('web: snapshot before created (VM running)');
    expect(await sandbox.snapshot()).toEqual(before);
    await sandbox.expectPlanDone();
  });

  it('refuses a label that already exists: nothing created, the way to delete it named', async () => {
    await sandbox.plan([libvirtUp, domains(), snapshotList(WEB)]);
    const before = await sandbox.snapshot();
    const result = await sandbox.make(['snapshot', 'NAME=web', 'ACTION=create', 'SNAP=before']);
    expect(result.exitCode).not.toBe(0);
    expect(result.stderr).toContain('Error 1');
    expect(result.stderr).toMatch(/snapshot before already exists on web.*\n.*make snapshot NAME=web ACTION=delete SNAP=before/);
    expect((await virshCalls()).filter((args) => args[0] === 'snapshot-create-as')).toEqual([]);
    expect(await sandbox.snapshot()).toEqual(before);
    await sandbox.expectPlanDone();
  });

  it('DRY_RUN=1 prints the virsh argv and creates nothing', async () => {
    await sandbox.plan([libvirtUp, domains(), noSnapshots(WEB)]);
    const result = await sandbox.make(['snapshot', 'NAME=web', 'ACTION=create', 'SNAP=before', 'DRY_RUN=1']);
    expect(result.exitCode, result.stderr).toBe(0);
    expect(result.stdout).toContain(`virsh -c qemu:///system snapshot-create-as --domain ${WEB} --name before --description 'vmlab snapshot' --atomic`);
    expect((await virshCalls()).filter((args) => args[0] === 'snapshot-create-as')).toEqual([]);
    await sandbox.expectPlanDone();
  });

  it('a virsh failure is a non-zero exit with virsh\'s words and the next step', async () => {
    await sandbox.plan([libvirtUp, domains(), noSnapshots(WEB), create(WEB, 'before', PFLASH)]);
    const result = await sandbox.make(['snapshot', 'NAME=web', 'ACTION=create', 'SNAP=before']);
    expect(result.exitCode).not.toBe(0);
    expect(result.stderr).toContain('Error 1');
    expect(result.stderr).toMatch(/snapshot before of web failed: virsh exited with 1\n.*pflash based firmware are not supported/);
    expect(result.stderr).toMatch(/next: .*make snapshot NAME=web ACTION=create SNAP=before/);
    await sandbox.expectPlanDone();
  });

  it('NAME=web,db: when db fails, the snapshot just taken of web is deleted again', async () => {
    await sandbox.plan([libvirtUp, domains(), noSnapshots(WEB), noSnapshots(DB), create(WEB, 'pair'), create(DB, 'pair', PFLASH), remove(WEB, 'pair')]);
    const result = await sandbox.make(['snapshot', 'NAME=web,db', 'ACTION=create', 'SNAP=pair']);
    expect(result.exitCode).not.toBe(0);
    expect(result.stderr).toContain('Error 1');
    expect(result.stderr).toContain('snapshot pair of db failed');
    expect(result.stderr).toContain('web: rolled back (snapshot pair deleted again)');
    const order = (await virshCalls()).filter((args) => args[0]?.startsWith('snapshot-') && args[0] !== 'snapshot-list').map((args) => `${args[0]} ${args[2]}`);
    expect(order).toEqual([`snapshot-create-as ${WEB}`, `snapshot-create-as ${DB}`, `snapshot-delete ${WEB}`]);
    await sandbox.expectPlanDone();
  });

  it('NAME=web,db: every machine is checked before anything is created', async () => {
    await sandbox.plan([libvirtUp, domains(), noSnapshots(WEB), snapshotList(DB)]);
    const result = await sandbox.make(['snapshot', 'NAME=web,db', 'ACTION=create', 'SNAP=clean']);
    expect(result.stderr).toMatch(/snapshot clean already exists on db/);
    expect((await virshCalls()).filter((args) => args[0] === 'snapshot-create-as')).toEqual([]);
    await sandbox.expectPlanDone();
  });

  it('GROUP=tier: every machine of the group under one label; NAME and GROUP together are refused', async () => {
    await writeFile(path.join(sandbox.labDir, 'lab.yaml'), 'name: lab\ngroups:\n  tier: [web, db]\nmachines:\n  web:\n    role: docker\n  db:\n    role: base\n');
    await sandbox.plan([libvirtUp, domains(), noSnapshots(WEB), noSnapshots(DB), create(WEB, 'pair'), create(DB, 'pair')]);
    const result = await sandbox.make(['snapshot', 'GROUP=tier', 'ACTION=create', 'SNAP=pair']);
    expect(result.exitCode, result.stderr).toBe(0);
    expect(result.stderr).toContain('web: snapshot pair created (VM running)');
    expect(result.stderr).toContain('db: snapshot pair created (VM shut off)');
    await sandbox.expectPlanDone();
    const both = await sandbox.make(['snapshot', 'GROUP=tier', 'NAME=web', 'ACTION=list']);
    expect(both.exitCode).not.toBe(0);
    expect(both.stderr).toContain('snapshot takes NAME or GROUP, not both');
  });

  it('NAME=web,db: both created, each reported', async () => {
    await sandbox.plan([libvirtUp, domains(), noSnapshots(WEB), noSnapshots(DB), create(WEB, 'pair'), create(DB, 'pair')]);
    const result = await sandbox.make(['snapshot', 'NAME=web,db', 'ACTION=create', 'SNAP=pair']);
    expect(result.exitCode, result.stderr).toBe(0);
    expect(result.stderr).toContain('web: snapshot pair created (VM running)');
    expect(result.stderr).toContain('db: snapshot pair created (VM shut off)');
    await sandbox.expectPlanDone();
  });
});

describe('make snapshot ACTION=list', () => {
  it('a table of SNAPSHOT, CREATED, STATE; JSON=1 gives name, created (ISO 8601), state', async () => {
    await sandbox.plan([libvirtUp, { ...domains(), repeat: true }, { ...snapshotList(WEB), repeat: true }]);
    const table = await sandbox.make(['snapshot', 'NAME=web', 'ACTION=list']);
    expect(table.exitCode, table.stderr).toBe(0);
    expect(table.stdout).toMatch(/SNAPSHOT\s+CREATED\s+STATE\nbefore\s+2026-11-22T10:15:02Z\s+running\nclean\s+2026-11-22T10:20:40Z\s+shutoff/);
    const json = await sandbox.make(['snapshot', 'NAME=web', 'ACTION=list', 'JSON=1']);
    expect(json.exitCode, json.stderr).toBe(0);
    expect(JSON.parse(json.stdout)).toEqual([
      { name: 'before', created: '2026-11-22T10:15:02Z', state: 'running' },
      { name: 'clean', created: '2026-11-22T10:20:40Z', state: 'shutoff' },
    ]);
  });

  it('an empty list says so (a shut-off VM)', async () => {
    await sandbox.plan([libvirtUp, domains(), noSnapshots(DB)]);
    const result = await sandbox.make(['snapshot', 'NAME=db', 'ACTION=list']);
    expect(result.exitCode, result.stderr).toBe(0);
    expect(result.stdout).toContain('db: no snapshots. Take one: make snapshot NAME=db ACTION=create SNAP=<label>');
    await sandbox.expectPlanDone();
  });

  it('a failing snapshot-list is a non-zero exit', async () => {
    await sandbox.plan([libvirtUp, domains(), { ...snapshotList(WEB, ''), exitCode: 1, stderr: 'error: failed to get domain\n' }]);
    const result = await sandbox.make(['snapshot', 'NAME=web', 'ACTION=list']);
    expect(result.exitCode).not.toBe(0);
    expect(result.stderr).toMatch(/listing the snapshots of web failed: virsh exited with 1\n.*failed to get domain/);
  });
});

describe('make snapshot ACTION=restore', () => {
  it('without YES=1 and no terminal: refused, nothing restored', async () => {
    await sandbox.plan([libvirtUp, domains(), snapshotList(WEB)]);
    const before = await sandbox.snapshot();
    const result = await sandbox.make(['snapshot', 'NAME=web', 'ACTION=restore', 'SNAP=before']);
    expect(result.exitCode).not.toBe(0);
    expect(result.stderr).toMatch(/not restoring web: not confirmed\n.*make snapshot NAME=web ACTION=restore SNAP=before YES=1/);
    expect((await virshCalls()).filter((args) => args[0] === 'snapshot-revert' || args[0] === 'domstate')).toEqual([]);
    expect(await sandbox.snapshot()).toEqual(before);
    await sandbox.expectPlanDone();
  });

  it('YES=1 on a running VM passes --running so that it stays running', async () => {
    await sandbox.plan([
      libvirtUp,
      domains(),
      snapshotList(WEB),
      domstate(WEB, 'running'),
      { tool: 'virsh', args: [...URI, 'snapshot-revert', '--domain', WEB, '--snapshotname', 'before', '--running'] },
      setClock(WEB),
      readClock(WEB, 0),
    ]);
    const result = await sandbox.make(['snapshot', 'NAME=web', 'ACTION=restore', 'SNAP=before', 'YES=1']);
    expect(result.exitCode, result.stderr).toBe(0);
    expect(result.stderr).toContain('web: restored to snapshot before (kept running)');
    expect(result.stderr).toMatch(/web: clock set to the host's time/);
    expect(result.stderr).not.toContain('warning');
    await sandbox.expectPlanDone();
  });

  // Issue 13.7: the guest comes back with the snapshot's clock; vmlab sets it through the guest agent and checks it.
  const restoreRunning = [libvirtUp, domains(), snapshotList(WEB), domstate(WEB, 'running'), { tool: 'virsh' as const, args: [...URI, 'snapshot-revert', '--domain', WEB, '--snapshotname', 'before', '--running'] }];

  it('a guest agent that does not answer: retried, then a warning with the fix; the restore itself succeeded', async () => {
    await sandbox.plan([...restoreRunning, { ...setClock(WEB), exitCode: 1, stderr: 'error: Guest agent is not responding: QEMU guest agent is not connected\n', repeat: true }]);
    const result = await sandbox.make(['snapshot', 'NAME=web', 'ACTION=restore', 'SNAP=before', 'YES=1']);
    expect(result.exitCode, result.stderr).toBe(0);
    expect(result.stderr).toMatch(
      /warning: web: could not set the clock after the restore \(guest agent: Guest agent is not responding: QEMU guest agent is not connected\); it keeps the snapshot's time\. Fix: virsh -c qemu:\/\/\/system domtime vmlab-lab-web --now/,
    );
    expect((await virshCalls()).filter((args) => args[0] === 'domtime')).toHaveLength(5);
  });

  it('a clock still minutes behind after it was set: a warning that says how far', async () => {
    await sandbox.plan([...restoreRunning, setClock(WEB), readClock(WEB, -300)]);
    const result = await sandbox.make(['snapshot', 'NAME=web', 'ACTION=restore', 'SNAP=before', 'YES=1']);
    expect(result.exitCode, result.stderr).toBe(0);
    expect(result.stderr).toMatch(/warning: web: the clock is still (29\d|30\d) s behind the host's after the restore\. Fix: /);
    await sandbox.expectPlanDone();
  });

  it('YES=1 on a shut-off VM reverts without --running', async () => {
    await sandbox.plan([
      libvirtUp,
      domains(),
      snapshotList(DB),
      domstate(DB, 'shut off'),
      { tool: 'virsh', args: [...URI, 'snapshot-revert', '--domain', DB, '--snapshotname', 'clean'] },
    ]);
    const result = await sandbox.make(['snapshot', 'NAME=db', 'ACTION=restore', 'SNAP=clean', 'YES=1']);
    expect(result.exitCode, result.stderr).toBe(0);
    await sandbox.expectPlanDone();
  });

  it('an unknown label: exit 2, listing the known labels', async () => {
    await sandbox.plan([libvirtUp, domains(), snapshotList(WEB)]);
    const result = await sandbox.make(['snapshot', 'NAME=web', 'ACTION=restore', 'SNAP=nosuch', 'YES=1']);
    expect(result.exitCode).not.toBe(0);
    expect(result.stderr).toContain('Error 2');
    expect(result.stderr).toContain('no snapshot nosuch on web (known snapshots: web: before, clean)');
    expect((await virshCalls()).filter((args) => args[0] === 'snapshot-revert')).toEqual([]);
    await sandbox.expectPlanDone();
  });

  it('a failed revert is a non-zero exit', async () => {
    await sandbox.plan([
      libvirtUp,
      domains(),
      snapshotList(WEB),
      domstate(WEB, 'running'),
      { tool: 'virsh', args: [...URI, 'snapshot-revert', '--domain', WEB, '--snapshotname', 'before', '--running'], exitCode: 1, stderr: 'error: revert failed\n' },
    ]);
    const result = await sandbox.make(['snapshot', 'NAME=web', 'ACTION=restore', 'SNAP=before', 'YES=1']);
    expect(result.exitCode).not.toBe(0);
    expect(result.stderr).toContain('Error 1');
    expect(result.stderr).toMatch(/restoring web to snapshot before failed: virsh exited with 1\n.*revert failed/);
    await sandbox.expectPlanDone();
  });
});

describe('make snapshot ACTION=delete', () => {
  it('YES=1 deletes the snapshot', async () => {
    await sandbox.plan([libvirtUp, domains(), snapshotList(WEB), remove(WEB, 'clean')]);
    const result = await sandbox.make(['snapshot', 'NAME=web', 'ACTION=delete', 'SNAP=clean', 'YES=1']);
    expect(result.exitCode, result.stderr).toBe(0);
    expect(result.stderr).toContain('web: snapshot clean deleted');
    await sandbox.expectPlanDone();
  });

  it('without YES=1: refused, nothing deleted', async () => {
    await sandbox.plan([libvirtUp, domains(), snapshotList(WEB)]);
    const result = await sandbox.make(['snapshot', 'NAME=web', 'ACTION=delete', 'SNAP=clean']);
    expect(result.stderr).toMatch(/not deleting snapshot clean: not confirmed/);
    expect(result.exitCode).not.toBe(0);
    await sandbox.expectPlanDone();
  });

  it('an unknown label: exit 2, listing the known labels', async () => {
    await sandbox.plan([libvirtUp, domains(), noSnapshots(DB)]);
    const result = await sandbox.make(['snapshot', 'NAME=db', 'ACTION=delete', 'SNAP=clean', 'YES=1']);
    expect(result.stderr).toContain('Error 2');
    expect(result.stderr).toContain('no snapshot clean on db (known snapshots: db: none)');
    await sandbox.expectPlanDone();
  });
});

describe('make snapshot refuses bad input and changes nothing', () => {
  it.each([
    { case: 'a label with spaces', args: ['ACTION=create', 'NAME=web', 'SNAP=a b'], exit: 2, message: /invalid snapshot label "a b"/ },
    { case: 'a label with $()', args: ['ACTION=create', 'NAME=web', 'SNAP=$(touch pwned)'], exit: 2, message: /invalid snapshot label "\$\(touch pwned\)"/ },
    { case: 'a label $(id)', args: ['ACTION=restore', 'NAME=web', 'SNAP=$(id)', 'YES=1'], exit: 2, message: /invalid snapshot label "\$\(id\)"/ },
    { case: 'a label with ;', args: ['ACTION=delete', 'NAME=web', 'SNAP=x;touch pwned', 'YES=1'], exit: 2, message: /invalid snapshot label "x;touch pwned"/ },
    { case: 'a label with a slash', args: ['ACTION=create', 'NAME=web', 'SNAP=../etc'], exit: 2, message: /invalid snapshot label "\.\.\/etc"/ },
    { case: 'a label that is too long', args: ['ACTION=create', 'NAME=web', `SNAP=${'a'.repeat(65)}`], exit: 2, message: /at most 64/ },
    { case: 'a unicode label', args: ['ACTION=create', 'NAME=web', 'SNAP=café'], exit: 2, message: /invalid snapshot label "café"/ },
    { case: 'a label like an option', args: ['ACTION=create', 'NAME=web', 'SNAP=--force'], exit: 2, message: /invalid snapshot label "--force"/ },
    { case: 'an action like an option', args: ['ACTION=--yes', 'NAME=web', 'SNAP=x'], exit: 2, message: /unknown snapshot ACTION "--yes"/ },
    { case: 'a NAME like an option', args: ['ACTION=restore', 'NAME=--yes', 'SNAP=x'], exit: 2, message: /no machine named "--yes"/ },
    { case: 'no label for create', args: ['ACTION=create', 'NAME=web'], exit: 2, message: /ACTION=create needs SNAP=<label>/ },
    { case: 'an unknown action', args: ['ACTION=rollback', 'NAME=web', 'SNAP=x'], exit: 2, message: /unknown snapshot ACTION "rollback": use one of create, list, restore, delete/ },
    { case: 'no action', args: ['NAME=web'], exit: 2, message: /needs an ACTION: use one of create, list, restore, delete/ },
    { case: 'no NAME', args: ['ACTION=list'], exit: 2, message: /snapshot needs a NAME/ },
    { case: 'an unknown machine', args: ['ACTION=create', 'NAME=nope', 'SNAP=x'], exit: 2, message: /no machine named "nope".*\n.*Known machines: web, db/ },
    { case: 'an unknown machine in a list', args: ['ACTION=list', 'NAME=web,nope'], exit: 2, message: /no machine named "nope"/ },
  ])('$case', async ({ args, exit, message }) => {
    await sandbox.plan([libvirtUp]);
    const before = await sandbox.snapshot();
    const result = await sandbox.make(['snapshot', ...args]);
    expect(result.stderr).toMatch(message);
    expect(result.stderr).toMatch(/next: /);
    expect(result.exitCode).not.toBe(0);
    expect(result.stderr).toContain(`Error ${exit}`);
    expect(await sandbox.calls()).toEqual([]);
    expect(await sandbox.snapshot()).toEqual(before);
    expect(existsSync(path.join(REPO, 'pwned'))).toBe(false);
  });

  it('a declared machine without a VM: says to start it, runs no snapshot command', async () => {
    await sandbox.plan([libvirtUp, domains([[DB, 'shut off']])]);
    const result = await sandbox.make(['snapshot', 'NAME=web', 'ACTION=create', 'SNAP=before']);
    expect(result.exitCode).not.toBe(0);
    expect(result.stderr).toContain('Error 1');
    expect(result.stderr).toContain('web is declared but has no VM; make start NAME=web');
    expect(await virshCalls()).toEqual([['list', '--all']]);
    await sandbox.expectPlanDone();
  });
});

describe('make delete of a machine with snapshots', () => {
  it('deletes its snapshots before vagrant destroy (libvirt will not undefine a domain that has some)', async () => {
    await sandbox.plan([
      libvirtUp,
      domains(),
      snapshotList(WEB),
      remove(WEB, 'before'),
      remove(WEB, 'clean'),
      { tool: 'vagrant', args: ['destroy', '-f', 'web'] },
      domains([[DB, 'shut off']]),
      { tool: 'virsh', args: [...URI, 'vol-list', 'default'], stdout: fixture('virsh/vol-list.txt') },
      { tool: 'virsh', args: [...URI, 'vol-delete', '--pool', 'default', `${WEB}.img`] },
      noNetworks,
    ]);
    const result = await sandbox.make(['delete', 'NAME=web', 'YES=1']);
    expect(result.exitCode, result.stderr).toBe(0);
    const order = (await sandbox.calls()).filter((call) => call.tool === 'vagrant' || call.args[2] === 'snapshot-delete').map((call) => `${call.tool} ${(call.tool === 'virsh' ? call.args.slice(2) : call.args).join(' ')}`);
    expect(order).toEqual([
      `virsh snapshot-delete --domain ${WEB} --snapshotname before`,
      `virsh snapshot-delete --domain ${WEB} --snapshotname clean`,
      'vagrant destroy -f web',
    ]);
    expect(await sandbox.readLab()).not.toContain('web:');
    await sandbox.expectPlanDone();
  });

  it('DRY_RUN=1 prints the snapshot-delete argv and deletes nothing', async () => {
    await sandbox.plan([libvirtUp, domains(), snapshotList(WEB)]);
    const before = await sandbox.snapshot();
    const result = await sandbox.make(['delete', 'NAME=web', 'DRY_RUN=1']);
    expect(result.exitCode, result.stderr).toBe(0);
    expect(result.stdout).toContain(`virsh -c qemu:///system snapshot-delete --domain ${WEB} --snapshotname before`);
    expect(result.stdout).toContain('vagrant destroy -f web');
    expect((await virshCalls()).filter((args) => args[0] === 'snapshot-delete')).toEqual([]);
    expect(await sandbox.snapshot()).toEqual(before);
    await sandbox.expectPlanDone();
  });

  it('a machine without a domain: no snapshot calls, straight to vagrant destroy', async () => {
    await sandbox.plan([
      libvirtUp,
      domains([]),
      { tool: 'vagrant', args: ['destroy', '-f', 'web'] },
      domains([]),
      { tool: 'virsh', args: [...URI, 'vol-list', 'default'], stdout: fixture('virsh/vol-list.txt') },
      { tool: 'virsh', args: [...URI, 'vol-delete', '--pool', 'default', `${WEB}.img`] },
      noNetworks,
    ]);
    const result = await sandbox.make(['delete', 'NAME=web', 'YES=1']);
    expect(result.exitCode, result.stderr).toBe(0);
    expect((await virshCalls()).filter((args) => args[0]?.startsWith('snapshot-'))).toEqual([]);
    await sandbox.expectPlanDone();
  });
});
