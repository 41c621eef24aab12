import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { domainList, hostReadings, libvirtUp, noDomains, type PlannedCall, Sandbox, URI } from '../support/fakes.js';

/** Ring 2: remote libvirt hosts against the fakes: validation, placement, per-host reads and admission. */
const FAR = 'qemu+ssh://me@workstation/system';
const onFar = (call: PlannedCall): PlannedCall => ({ ...call, args: call.args.map((arg, index) => (index === 1 && call.args[0] === '-c' ? FAR : arg)) });
const farUp = onFar(libvirtUp);
/** The far host's own figures: 8 cores, 4 GiB (this machine has others), 100 GiB free in its pool. */
const farFigures: PlannedCall[] = [
  onFar({ tool: 'virsh', args: [...URI, 'nodeinfo'], stdout: 'CPU model:           x86_64\nCPU(s):              8\nMemory size:         4194304 KiB\n', repeat: true }),
  onFar({ tool: 'virsh', args: [...URI, 'pool-dumpxml', 'default'], stdout: "<pool type='dir'><available unit='bytes'>107374182400</available><target><path>/srv/pool</path></target></pool>\n", repeat: true }),
];
const farReadings = [...hostReadings.filter((call) => !call.args.includes('pool-dumpxml')).map(onFar), ...farFigures];

let sandbox: Sandbox;
beforeEach(async () => {
  sandbox = await Sandbox.create();
  await sandbox.seedImages();
});
afterEach(async () => sandbox.cleanup());

const writeLab = (text: string) => writeFile(path.join(sandbox.labDir, 'lab.yaml'), text);
const LAB = `name: lab\nhosts:\n  far: ${FAR}\nmachines:\n  web: {role: base}\n`;

describe('hosts: checked before anything changes', () => {
  it.each([
    ['an unknown host', `${LAB}  db: {role: base, host: farr}\n`, /lab\.yaml:6:\d+: machines\.db\.host: unknown host "farr" \(declared hosts: local, far\)/],
    ['a URI that is not libvirt\'s', 'name: lab\nhosts:\n  far: ssh://me@workstation\nmachines: {}\n', /hosts\.far: "ssh:\/\/me@workstation" is not a QEMU libvirt URI/],
    ['one private network on two hosts', `${LAB}  a: {role: base, ip: 10.20.0.11/24}\n  b: {role: base, ip: 10.20.0.12/24, host: far}\n`, /a lab network does not span hosts/],
  ])('%s: refused with its line, exit 2, no libvirt call', async (_what, text, message) => {
    await writeLab(text);
    await sandbox.plan([]);
    const before = await sandbox.snapshot();
    const result = await sandbox.make(['up']);
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toMatch(message);
    expect(await sandbox.snapshot()).toEqual(before);
    expect(await sandbox.calls()).toEqual([]);
  });

  it('an unreachable host: the error names the URI, the SSH failure and the fix; vagrant never runs', async () => {
    await writeLab(`${LAB}  db: {role: base, host: far}\n`);
    await sandbox.plan([libvirtUp, { ...farUp, exitCode: 1, stdout: '', stderr: 'error: failed to connect to the hypervisor\nerror: Cannot recv data: me@workstation: Permission denied (publickey).: Connection reset by peer\n' }]);
    const before = await sandbox.snapshot();
    const result = await sandbox.make(['start', 'NAME=db']);
    expect(result.exitCode).not.toBe(0);
    expect(result.stderr).toContain(`host far is not reachable at ${FAR}: Cannot recv data: me@workstation: Permission denied (publickey).: Connection reset by peer. Nothing was changed.`);
    expect(result.stderr).toContain('ssh-copy-id me@workstation');
    expect((await sandbox.calls()).filter((call) => call.tool === 'vagrant')).toEqual([]);
    expect(await sandbox.snapshot()).toEqual(before);
  });
});

describe('a machine on a remote host', () => {
  it('make console and make suspend read and reach it on its own host, never through the local libvirt', async () => {
    await writeLab(`${LAB}  db: {role: base, host: far}\n`);
    const db = 'vmlab-lab-db';
    const info = onFar({ tool: 'virsh', args: [...URI, 'dominfo', db], stdout: `Name:  ${db}\nState:  running\nCPU(s):  1\nMax memory:  1048576 KiB\nManaged save:  no\n`, repeat: true });
    await sandbox.plan([
      libvirtUp, farUp, info,
      onFar({ tool: 'virsh', args: [...URI, 'domstate', db], stdout: 'running\n', repeat: true }),
      onFar({ tool: 'virsh', args: [...URI, 'console', db] }),
    ]);
    const result = await sandbox.make(['console', 'NAME=db']);
    expect(result.exitCode, result.stderr).toBe(0);
    await sandbox.expectPlanDone();
    expect((await sandbox.calls()).filter((call) => call.tool === 'virsh' && call.args[1] !== FAR && !call.args.includes('version'))).toEqual([]);

    await sandbox.plan([libvirtUp, farUp, onFar(noDomains), ...farReadings]);
    const suspend = await sandbox.make(['suspend', 'NAME=db']);
    expect(suspend.exitCode, suspend.stderr).toBe(0);
    expect(suspend.stderr).toContain('db: not created, nothing to suspend');
    expect((await sandbox.calls()).filter((call) => call.tool === 'virsh' && call.args[1] !== FAR && !call.args.includes('version'))).toEqual([]);
  });

  it("is admitted by that host's own figures (virsh nodeinfo through its URI), not this machine's", async () => {
    await writeLab(`${LAB}  db: {role: base, host: far, memory: 4096}\n`);
    await sandbox.plan([farUp, onFar(noDomains), ...farReadings]);
    const before = await sandbox.snapshot();
    const result = await sandbox.make(['start', 'NAME=db']);
    expect(result.exitCode).not.toBe(0);
    expect(result.stderr).toContain('not enough room on host far: memory would go over the limit');
    expect(result.stderr).toContain('host far: 8 cores, 4096 MiB memory; pool default (/srv/pool): 100.0 GiB free');
    expect((await sandbox.calls()).filter((call) => call.tool === 'vagrant')).toEqual([]);
    expect((await sandbox.calls()).filter((call) => call.tool === 'virsh' && call.args[1] !== FAR)).toEqual([]);
    expect(await sandbox.snapshot()).toEqual(before);
  });

  it('goes up through its host: the Vagrantfile gives it the URI, every virsh call goes there', async () => {
    await writeLab(`${LAB}  db: {role: base, host: far}\n`);
    await sandbox.plan([farUp, onFar(noDomains), ...farReadings, { tool: 'vagrant', args: ['up', 'db', '--provider=libvirt'] }, { tool: 'vagrant', args: ['ssh', 'db', '-c', '*'], stdout: 'VMLAB-CHECK 0 0\nVMLAB-CHECK 1 0\nVMLAB-CHECK 2 0\n' }]);
    const result = await sandbox.make(['start', 'NAME=db']);
    expect(result.exitCode, result.stderr).toBe(0);
    const vagrantfile = (await sandbox.readVagrantfile()) ?? '';
    const block = (name: string) => vagrantfile.slice(vagrantfile.indexOf(`config.vm.define '${name}'`)).split(/\n {2}end\n/)[0]!;
    expect(block('db')).toContain(`libvirt.uri = '${FAR}'`);
    expect(block('web')).not.toContain('libvirt.uri');
    expect((await sandbox.calls()).filter((call) => call.tool === 'virsh' && call.args[1] !== FAR)).toEqual([]);
    await sandbox.expectPlanDone();
  });

  it('make list reads each host from its own libvirt and shows HOST (JSON=1: host)', async () => {
    await writeLab(`${LAB}  db: {role: base, host: far}\n`);
    await sandbox.plan([libvirtUp, domainList([['vmlab-lab-web', 'shut off']], true), farUp, onFar(domainList([['vmlab-lab-db', 'shut off']], true)), { tool: 'virsh', args: [...URI, '*'], repeat: true }, onFar({ tool: 'virsh', args: [...URI, '*'], repeat: true })]);
    const result = await sandbox.make(['list']);
    expect(result.exitCode, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/^NAME +ROLE +IMAGE +STATE +IP +CPUS +MEMORY +HOST$/m);
    expect(result.stdout).toMatch(/^web +base +base +shut off .* local$/m);
    expect(result.stdout).toMatch(/^db +base +base +shut off .* far$/m);
    const json = JSON.parse((await sandbox.make(['list', 'JSON=1'])).stdout) as { machines: { name: string; host: string }[] };
    expect(json.machines.map((machine) => [machine.name, machine.host])).toEqual([['web', 'local'], ['db', 'far']]);
  });

  it('make plan and make down read each machine on its own host', async () => {
    await writeLab(`${LAB}  db: {role: base, host: far}\n`);
    const lists = [domainList([['vmlab-lab-web', 'running']], true), onFar(domainList([['vmlab-lab-db', 'running']], true))];
    const details = [{ tool: 'virsh', args: [...URI, '*'], repeat: true }, onFar({ tool: 'virsh', args: [...URI, '*'], repeat: true })] as PlannedCall[];
    await sandbox.plan([libvirtUp, farUp, ...lists, ...details]);
    const plan = await sandbox.make(['plan', 'JSON=1']);
    expect(plan.exitCode, plan.stderr).toBe(0);
    expect((JSON.parse(plan.stdout) as { machines: { name: string; state: string }[] }).machines.map((row) => [row.name, row.state])).toEqual([['web', 'running'], ['db', 'running']]);
    await sandbox.plan([libvirtUp, farUp, ...lists, { tool: 'vagrant', args: ['halt', 'web'] }, { tool: 'vagrant', args: ['halt', 'db'] }]);
    const down = await sandbox.make(['down']);
    expect(down.exitCode, down.stderr).toBe(0);
    expect((await sandbox.calls()).filter((call) => call.tool === 'vagrant').map((call) => call.args.join(' ')).sort()).toEqual(['halt db', 'halt web']);
  });

  it('make hosts: reachability, driver, cores, memory and pool free space of each host; an unreachable one with its fix', async () => {
    await writeLab(`${LAB}  db: {role: base, host: far}\n`);
    await sandbox.plan([libvirtUp, ...hostReadings, farUp, ...farReadings, onFar({ tool: 'virsh', args: [...URI, 'domcapabilities', '--virttype', 'kvm'], exitCode: 1, stderr: 'error: KVM is not supported\n', repeat: true })]);
    const result = await sandbox.make(['hosts', 'JSON=1']);
    expect(result.exitCode, result.stderr).toBe(0);
    const rows = JSON.parse(result.stdout) as { name: string; reachable: boolean; driver: string; cpus: number; memoryMiB: number; poolFreeBytes: number; machines: string[] }[];
    expect(rows.map((row) => row.name)).toEqual(['local', 'far']);
    expect(rows[1]).toMatchObject({ reachable: true, driver: 'qemu', cpus: 8, memoryMiB: 4096, poolFreeBytes: 100 * 2 ** 30, machines: ['db'] });
    expect(rows[0]).toMatchObject({ reachable: true, machines: ['web'] });

    await sandbox.plan([libvirtUp, ...hostReadings, { ...farUp, exitCode: 1, stdout: '', stderr: 'error: Cannot recv data: ssh: connect to host workstation port 22: Connection refused\n' }]);
    const down = await sandbox.make(['hosts']);
    expect(down.exitCode).not.toBe(0);
    expect(down.stdout).toMatch(/^far +NO /m);
    expect(down.stdout).toContain('far: host far is not reachable at');
    expect(down.stdout).toContain('fix: Check that SSH works first: ssh me@workstation virsh -c qemu:///system version');
  });

  it('snapshot refuses machines of two hosts at once, host by host being the way', async () => {
    await writeLab(`${LAB}  db: {role: base, host: far}\n`);
    await sandbox.plan([]);
    const result = await sandbox.make(['snapshot', 'NAME=web,db', 'ACTION=create', 'SNAP=s1']);
    expect(result.exitCode).not.toBe(0);
    expect(result.stderr).toContain('snapshot acts on the machines of one host at a time; these are on local (web) and far (db)');
    expect(result.stderr).toContain('make snapshot NAME=web ACTION=create SNAP=s1; make snapshot NAME=db ACTION=create SNAP=s1');
    expect(await sandbox.calls()).toEqual([]);
  });

  it.each([
    ['export', ['export', 'NAME=db', 'TARGET=golden']],
    ['clone', ['clone', 'SOURCE=db', 'TARGET=db2']],
  ])('%s of a remote machine is refused (not yet), before anything changes', async (what, args) => {
    await writeLab(`${LAB}  db: {role: base, host: far}\n`);
    await sandbox.plan([]);
    const before = await sandbox.snapshot();
    const result = await sandbox.make(args);
    expect(result.exitCode).not.toBe(0);
    expect(result.stderr).toContain(`${what} of db is not supported yet: it runs on host far`);
    expect(await sandbox.snapshot()).toEqual(before);
    expect(await sandbox.calls()).toEqual([]);
  });

  it('make doctor HOST=far checks that host through its URI and prints the fixes to run there', async () => {
    await writeLab(`${LAB}  db: {role: base, host: far}\n`);
    await sandbox.plan([
      farUp,
      onFar({ tool: 'virsh', args: [...URI, 'pool-dumpxml', 'default'], exitCode: 1, stderr: "error: Storage pool not found: no storage pool with matching name 'default'\n" }),
      onFar({ tool: 'virsh', args: [...URI, 'domcapabilities', '--virttype', 'kvm'], stdout: '<domainCapabilities/>\n' }),
      onFar({ tool: 'virsh', args: [...URI, 'net-list', '--all', '--name'], stdout: '\n' }),
    ]);
    const result = await sandbox.make(['doctor', 'HOST=far']);
    expect(result.exitCode).not.toBe(0);
    expect(result.stdout).toMatch(/OK +libvirtd on far +answering at qemu\+ssh:\/\/me@workstation\/system/);
    expect(result.stdout).toMatch(/FAIL +pool default +missing on that host +virsh -c 'qemu\+ssh:\/\/me@workstation\/system' pool-define-as default dir/);
    expect(result.stdout).toContain('sudo apt-get install dnsmasq-base iptables');
    expect(result.stderr).toContain('Fix them on host far');
    await sandbox.expectPlanDone();
    const unknown = await sandbox.make(['doctor', 'HOST=nowhere']);
    expect(unknown.exitCode).toBe(2);
    expect(unknown.stderr).toContain('no host named "nowhere" in lab.yaml');
  });
});
