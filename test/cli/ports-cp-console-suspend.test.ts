import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { domainList, hostReadings, libvirtUp, noDomains, type PlannedCall, rootDisk, Sandbox, URI } from '../support/fakes.js';

const DOMAIN = 'vmlab-lab-web';
const LAB = ['name: lab', 'machines:', '  web:', '    role: base', '    ports: ["8080:80", "127.0.0.1:5432:5432"]', '  db: {role: base}', ''].join('\n');
const dominfo = (state: string, managedSave = false): PlannedCall => ({
  tool: 'virsh',
  args: [...URI, 'dominfo', DOMAIN],
  stdout: `Name:           ${DOMAIN}\nState:          ${state}\nCPU(s):         1\nMax memory:     1048576 KiB\nManaged save:   ${managedSave ? 'yes' : 'no'}\n`,
  repeat: true,
});
const domstate = (state: string): PlannedCall => ({ tool: 'virsh', args: [...URI, 'domstate', DOMAIN], stdout: `${state}\n`, repeat: true });
const listening = (lines: string[]): PlannedCall => ({ tool: 'ss', args: ['-H', '-t', '-l', '-n', '-p'], stdout: `${lines.join('\n')}\n`, repeat: true });
const sshConfig: PlannedCall = { tool: 'vagrant', args: ['ssh-config', 'web'], stdout: 'Host web\n  HostName 192.168.123.20\n  User vagrant\n  Port 22\n' };

let sandbox: Sandbox;
beforeEach(async () => {
  sandbox = await Sandbox.create({ tools: ['vagrant', 'virsh', 'qemu-img', 'ss', 'scp', 'ssh'] });
  await sandbox.seedImages();
  await writeFile(path.join(sandbox.labDir, 'lab.yaml'), LAB);
});
afterEach(async () => sandbox.cleanup());

describe('forwarded ports', () => {
  it.each([
    ['70000:80', /"70000:80": the host port 70000 is out of range \(1-65535\)/],
    ['8080:0', /"8080:0": the guest port 0 is out of range/],
    ['localhost:80:80', /"localhost:80:80" is not a forwarded port: a port is "HOST:GUEST"/],
  ])('refuses %s with its line, before any tool runs, and changes nothing', async (port, message) => {
    await writeFile(path.join(sandbox.labDir, 'lab.yaml'), LAB.replace('"8080:80"', JSON.stringify(port)));
    const before = await sandbox.snapshot();
    const result = await sandbox.make(['up']);
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toMatch(/lab\.yaml:5:\d+: machines\.web\.ports\.0: /);
    expect(result.stderr).toMatch(message);
    expect(await sandbox.calls()).toEqual([]);
    expect(await sandbox.snapshot()).toEqual(before);
  });

  it('refuses a host port declared twice in lab.yaml', async () => {
    await writeFile(path.join(sandbox.labDir, 'lab.yaml'), LAB.replace('{role: base}', '{role: base, ports: ["127.0.0.1:8080:8000"]}'));
    const result = await sandbox.make(['plan']);
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toContain('machines.db.ports.0: host port 8080 is forwarded twice: here and by web ("8080:80")');
  });

  it('refuses a host port another program holds, naming it, before vagrant runs or anything is written', async () => {
    await sandbox.plan([libvirtUp, noDomains, ...hostReadings, listening(['LISTEN 0 511 127.0.0.1:5432 0.0.0.0:* users:(("postgres",pid=4242,fd=5))', 'LISTEN 0 128 0.0.0.0:22 0.0.0.0:*'])]);
    const before = await sandbox.snapshot();
    const result = await sandbox.make(['up']);
    expect(result.exitCode).not.toBe(0);
    expect(result.stderr).toContain('web: host port 5432 ("127.0.0.1:5432:5432") is taken by postgres (pid 4242) on 127.0.0.1');
    expect(result.stderr).toContain('change ports: in lab.yaml; then: make up');
    expect((await sandbox.calls()).filter((call) => call.tool === 'vagrant')).toEqual([]);
    expect(await sandbox.snapshot()).toEqual(before);
  });

  it('make up brings back the tunnel of a running machine that nobody listens on any more, over its ssh settings', async () => {
    await writeFile(path.join(sandbox.labDir, 'lab.yaml'), LAB.replace('  db: {role: base}\n', ''));
    const tunnel: PlannedCall = { tool: 'ssh', args: ['-F', '*', '-n', '-N', '-o', 'ExitOnForwardFailure=yes', '-o', 'ControlMaster=no', '-o', 'ConnectTimeout=10', '-L', '127.0.0.1:5432:127.0.0.1:5432', 'web'], repeat: true };
    await sandbox.plan([libvirtUp, domainList([[DOMAIN, 'running']], true), dominfo('running'), ...hostReadings, listening(['LISTEN 0 128 0.0.0.0:8080 0.0.0.0:*']), sshConfig, tunnel]);
    const result = await sandbox.make(['up']);
    expect(result.exitCode, result.stderr).toBe(0);
    expect(result.stderr).toContain('web: forwarding 127.0.0.1:5432:5432 again (the tunnel was gone)');
    // The fake ssh listens on nothing and exits: vmlab starts it again a few times, then says so instead
    // of claiming the port works.
    expect((await sandbox.calls()).filter((call) => call.tool === 'ssh')).toHaveLength(4);
    expect(result.stderr).toContain('web: a forwarded port did not start listening');
    await sandbox.expectPlanDone();
  });

  it('renders one forwarded_port per port into the Vagrantfile, with managed save as the suspend mode', async () => {
    expect((await sandbox.make(['render'])).exitCode).toBe(0);
    const vagrantfile = await sandbox.readVagrantfile();
    expect(vagrantfile).toContain(`machine.vm.network :forwarded_port, guest: 80, host: 8080, host_ip: '0.0.0.0', guest_ip: "127.0.0.1"`);
    expect(vagrantfile).toContain(`machine.vm.network :forwarded_port, guest: 5432, host: 5432, host_ip: '127.0.0.1', guest_ip: "127.0.0.1"`);
    expect(vagrantfile).toContain('libvirt.suspend_mode = "managedsave"');
  });

  it('make list shows the ports, and a managed-saved domain as saved (JSON=1 too)', async () => {
    await sandbox.plan([libvirtUp, domainList([[DOMAIN, 'shut off']], true), dominfo('shut off', true)]);
    const table = await sandbox.make(['list']);
    expect(table.exitCode, table.stderr).toBe(0);
    expect(table.stdout).toMatch(/web +base +base +saved +- +1 +1024 MiB +8080->80, 127\.0\.0\.1:5432->5432/);
    const json = JSON.parse((await sandbox.make(['list', 'JSON=1'])).stdout) as { machines: { name: string; state: string; ports: unknown[] }[] };
    expect(json.machines[0]).toMatchObject({ name: 'web', state: 'saved', ports: [{ hostIp: '0.0.0.0', hostPort: 8080, guestPort: 80 }, { hostIp: '127.0.0.1', hostPort: 5432, guestPort: 5432 }] });
  });
});

describe('make cp', () => {
  it('runs scp over the machine ssh settings with each path as one word and returns its exit code', async () => {
    await sandbox.plan([libvirtUp, domstate('running'), dominfo('running'), sshConfig, { tool: 'scp', args: ['-F', '*', '-r', '-p', '-q', '--', 'web:/var/log/my file; rm -rf ~', './logs/a:b'], exitCode: 3 }]);
    const result = await sandbox.make(['cp', 'SRC=web:/var/log/my file; rm -rf ~', 'DST=logs/a:b']);
    expect(result.stderr).toContain('the copy failed (scp exited with 3)');
    expect(result.stderr).toContain('Error 3');
    await sandbox.expectPlanDone();
  });

  it('copies to the machine the other way round', async () => {
    await sandbox.plan([libvirtUp, domstate('running'), dominfo('running'), sshConfig, { tool: 'scp', args: ['-F', '*', '-r', '-p', '-q', '--', '-site dir', 'web:/tmp/'] }]);
    const result = await sandbox.make(['cp', 'SRC=-site dir', 'DST=web:/tmp/']);
    expect(result.exitCode, result.stderr).toBe(0);
    expect(result.stderr).toContain('copied -site dir -> web:/tmp/');
    await sandbox.expectPlanDone();
  });

  it.each([
    [['SRC=web:/a', 'DST=db:/b'], 'not between two machines'],
    [['SRC=./a', 'DST=./b'], 'cp needs one side on a machine'],
    [['SRC=nope:/a', 'DST=./b'], 'no machine named "nope" in lab.yaml'],
    [['SRC=web:/a'], 'cp needs SRC and DST'],
  ])('refuses %j before any tool runs', async (args, message) => {
    const result = await sandbox.make(['cp', ...args]);
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toContain(message);
    expect(await sandbox.calls()).toEqual([]);
  });

  it('says how to start a machine that is not running', async () => {
    await sandbox.plan([libvirtUp, domstate('shut off'), dominfo('shut off', true)]);
    const result = await sandbox.make(['cp', 'SRC=web:/a', 'DST=./b']);
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toContain('web is saved (suspended): cp needs it running');
    expect(result.stderr).toContain('make resume NAME=web');
  });
});

describe('make console', () => {
  it('attaches virsh console to the domain', async () => {
    await sandbox.plan([libvirtUp, domstate('running'), dominfo('running'), { tool: 'virsh', args: [...URI, 'console', DOMAIN] }]);
    const result = await sandbox.make(['console', 'NAME=web']);
    expect(result.exitCode, result.stderr).toBe(0);
    expect(result.stderr).toContain('Ctrl+] to leave');
    await sandbox.expectPlanDone();
  });

  it('refuses a machine that is shut off, with the command that starts it', async () => {
    await sandbox.plan([libvirtUp, domstate('shut off'), dominfo('shut off')]);
    const result = await sandbox.make(['console', 'NAME=web']);
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toContain('web is shut off: console needs it running');
    expect(result.stderr).toContain('make start NAME=web');
  });
});

describe('make suspend and resume', () => {
  it('suspends the running machines of the selection with vagrant (managed save) and checks libvirt saved them', async () => {
    await sandbox.plan([libvirtUp, domainList([[DOMAIN, 'running']]), { ...dominfo('running'), repeat: false }, { tool: 'vagrant', args: ['suspend', 'web'] }, domainList([[DOMAIN, 'shut off']]), dominfo('shut off', true), ...hostReadings]);
    const result = await sandbox.make(['suspend', 'NAME=web,db']);
    expect(result.exitCode, result.stderr).toBe(0);
    expect(result.stderr).toContain('db: not created, nothing to suspend');
    expect(result.stderr).toContain('web: saved (memory state on disk). Back: make resume NAME=web,db');
    await sandbox.expectPlanDone();
  });

  it('make up resumes a saved machine through vagrant up, with admission counting it as one to start', async () => {
    await writeFile(path.join(sandbox.labDir, 'lab.yaml'), LAB.replace('  db: {role: base}\n', ''));
    const interfaces = ' Interface   Type      Source       Model    MAC\n-----------------------------------------------\n -           network   vmlab-mgmt   virtio   52:54:00:aa:bb:cc\n';
    const tunnel = (port: string): PlannedCall => ({ tool: 'ssh', args: ['-F', '*', '-n', '-N', '-o', 'ExitOnForwardFailure=yes', '-o', 'ControlMaster=no', '-o', 'ConnectTimeout=10', '-L', port, 'web'], repeat: true });
    await sandbox.plan([
      // A host reboot left the management network down, and dnsmasq without the guest's lease.
      { tool: 'virsh', args: [...URI, 'net-list', '--inactive', '--name'], stdout: 'vmlab-mgmt\n' },
      libvirtUp, domainList([[DOMAIN, 'shut off']], true), dominfo('shut off', true), ...rootDisk(DOMAIN), ...hostReadings, listening([]),
      { tool: 'virsh', args: [...URI, 'domiflist', DOMAIN], stdout: interfaces },
      { tool: 'virsh', args: [...URI, 'net-start', 'vmlab-mgmt'] },
      { tool: 'virsh', args: [...URI, 'start', DOMAIN] },
      { tool: 'virsh', args: [...URI, 'domifaddr', DOMAIN], stdout: ' Name   MAC address   Protocol   Address\n-----------------------------------------\n\n' },
      { tool: 'virsh', args: [...URI, 'domif-setlink', DOMAIN, '52:54:00:aa:bb:cc', 'down'] },
      { tool: 'virsh', args: [...URI, 'domif-setlink', DOMAIN, '52:54:00:aa:bb:cc', 'up'] },
      { tool: 'virsh', args: [...URI, 'domifaddr', DOMAIN], stdout: ' Name   MAC address   Protocol   Address\n-----------------------------------------\n vnet0  52:54:00:aa:bb:cc  ipv4  192.168.123.20/24\n' },
      { tool: 'vagrant', args: ['up', 'web', '--provider=libvirt'] },
      sshConfig, tunnel('0.0.0.0:8080:127.0.0.1:80'), tunnel('127.0.0.1:5432:127.0.0.1:5432'),
    ]);
    const plan = await sandbox.make(['plan']);
    expect(plan.stdout).toMatch(/web +- +saved +start +saved: resume it where it was/);
    const result = await sandbox.make(['up']);
    expect(result.exitCode, result.stderr).toBe(0);
    expect(result.stderr).toContain('web: start: saved: resume it');
    expect(result.stderr).toContain('network vmlab-mgmt is defined but not running (a host reboot?): starting it');
    expect(result.stderr).toContain('web: its network lost the lease meanwhile: asking the guest to renew it');
    expect(result.stderr).toContain('web: forwarding 8080:80, 127.0.0.1:5432:5432 again');
    await sandbox.expectPlanDone();
  });

  it('make resume leaves a machine that is not saved alone', async () => {
    await sandbox.plan([libvirtUp, domainList([[DOMAIN, 'running']]), dominfo('running')]);
    const result = await sandbox.make(['resume', 'NAME=web']);
    expect(result.exitCode, result.stderr).toBe(0);
    expect(result.stderr).toContain('web: running, not saved: nothing to resume');
    expect((await sandbox.calls()).filter((call) => call.tool === 'vagrant')).toEqual([]);
  });

  it('needs NAME or GROUP', async () => {
    const result = await sandbox.make(['suspend']);
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toContain('suspend needs NAME or GROUP');
  });
});
