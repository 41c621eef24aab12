import { existsSync, readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { dominfo, healthChecks, hostReadings, libvirtUp, noDomains, type PlannedCall, REPO, rootDisk, Sandbox, URI } from '../support/fakes.js';

const fixture = (name: string) => readFileSync(path.join(REPO, 'test/fixtures', name), 'utf8');
const webRunning = (prefix = 'vmlab-lab-'): PlannedCall => ({
  tool: 'virsh',
  args: [...URI, 'list', '--all'],
  stdout: ` Id   Name            State\n--------------------------------\n 1    ${prefix}web   running\n\n`,
});

let sandbox: Sandbox;
beforeEach(async () => {
  sandbox = await Sandbox.create();
  await sandbox.seedImages();
});
afterEach(async () => sandbox.cleanup());

describe('make create-<role>', () => {
  it('DRY_RUN=1 prints the vagrant argv and changes nothing', async () => {
    await sandbox.plan([libvirtUp, { ...noDomains, repeat: true }, ...hostReadings]);
    const result = await sandbox.make(['create-docker', 'NAME=web', 'DRY_RUN=1']);
    expect(result.exitCode, result.stderr).toBe(0);
    expect(result.stdout).toContain('vagrant up web --provider=libvirt');
    expect(result.stdout).toMatch(/would write .*lab\.yaml/);
    expect(await sandbox.readLab()).toBeUndefined();
    expect(await sandbox.readVagrantfile()).toBeUndefined();
    expect((await sandbox.calls()).filter((call) => call.tool === 'vagrant')).toEqual([]);
  });

  it('declares the machine, renders the Vagrantfile and brings it up with provisioning', async () => {
    await sandbox.plan([libvirtUp, noDomains, ...hostReadings, { tool: 'vagrant', args: ['up', 'web', '--provider=libvirt'] }, healthChecks('web', 2)]);
    const result = await sandbox.make(['create-docker', 'NAME=web', 'CPUS=3']);
    expect(result.exitCode, result.stderr).toBe(0);
    expect(await sandbox.readLab()).toMatch(/machines:\n {2}web:\n {4}role: docker\n {4}cpus: 3\n/);
    const vagrantfile = await sandbox.readVagrantfile();
    expect(vagrantfile).toContain("config.vm.define 'web'");
    expect(vagrantfile).toContain("machine.vm.box = 'vmlab/docker'");
    expect(vagrantfile).toContain('libvirt.cpus = 3');
    const up = (await sandbox.calls()).find((call) => call.tool === 'vagrant');
    expect(up?.cwd).toBe(sandbox.labDir);
    await sandbox.expectPlanDone();
  });

  it('NAME defaults to the role name', async () => {
    await sandbox.plan([libvirtUp, noDomains, ...hostReadings, { tool: 'vagrant', args: ['up', 'base', '--provider=libvirt'] }, healthChecks('base', 3)]);
    const result = await sandbox.make(['create-base']);
    expect(result.exitCode, result.stderr).toBe(0);
    expect(await sandbox.readLab()).toContain('  base:\n    role: base\n');
    await sandbox.expectPlanDone();
  });

  it('creating an existing name with the same role starts it if it is off, and leaves it alone if it runs', async () => {
    await sandbox.plan([libvirtUp, noDomains, ...hostReadings, { tool: 'vagrant', args: ['up', 'web', '--provider=libvirt'] }, healthChecks('web', 2)]);
    expect((await sandbox.make(['create-docker', 'NAME=web'])).exitCode).toBe(0);
    const before = await sandbox.snapshot();
    const labName = /^name: (\S+)$/m.exec(before.lab ?? '')?.[1];
    expect(labName).toMatch(/^lab[0-9a-f]{6}$/);
    const domain = `vmlab-${labName}-web`;
    await sandbox.plan([libvirtUp, { ...webRunning(`vmlab-${labName}-`), stdout: webRunning(`vmlab-${labName}-`).stdout!.replace('running', 'shut off') }, dominfo(domain, 2, 2048, 'shut off'), ...rootDisk(domain, 20), ...hostReadings, { tool: 'vagrant', args: ['up', 'web', '--provider=libvirt'] }]);
    const again = await sandbox.make(['create-docker', 'NAME=web']);
    expect(again.exitCode, again.stderr).toBe(0);
    expect(again.stderr).toContain('already declared');
    expect(await sandbox.snapshot()).toEqual(before);
    await sandbox.expectPlanDone();
    await sandbox.plan([libvirtUp, webRunning(`vmlab-${labName}-`), dominfo(domain, 2, 2048)]);
    const running = await sandbox.make(['create-docker', 'NAME=web']);
    expect(running.exitCode, running.stderr).toBe(0);
    expect(running.stderr).toContain('web is running, as declared: nothing to do');
    await sandbox.expectPlanDone();
  });

  it('a failed vagrant up keeps the machine declared and says how to retry or remove it', async () => {
    await sandbox.plan([libvirtUp, noDomains, ...hostReadings, { tool: 'vagrant', args: ['up', 'web', '--provider=libvirt'], exitCode: 1, stderr: 'boom\n' }]);
    const result = await sandbox.cli(['create', 'docker', '--name', 'web']);
    expect(result.exitCode).toBe(1);
    expect(result.stderr).toContain('web did not come up');
    expect(result.stderr).toContain('make delete NAME=web YES=1');
    expect(await sandbox.readLab()).toContain('web:');
  });
});

describe('bad input changes nothing', () => {
  const labText = '# my lab\nname: lab\nmachines:\n  web:\n    role: docker\n';

  it.each([
    { case: 'unknown role', args: ['create-nosuch', 'NAME=x'], exit: 2, message: /unknown role "nosuch".*\n.*Known roles: .*docker/ },
    { case: 'uppercase name', args: ['create-docker', 'NAME=Web'], exit: 2, message: /invalid machine name "Web"/ },
    { case: 'name with a space', args: ['create-docker', 'NAME=a b'], exit: 2, message: /invalid machine name "a b"/ },
    { case: 'name with a shell command', args: ['create-docker', 'NAME=x;touch pwned'], exit: 2, message: /invalid machine name "x;touch pwned"/ },
    { case: 'name with $()', args: ['create-docker', 'NAME=$(touch pwned)'], exit: 2, message: /invalid machine name "\$\(touch pwned\)"/ },
    { case: 'a name that is too long', args: ['create-docker', `NAME=${'a'.repeat(41)}`], exit: 2, message: /at most 40/ },
    { case: 'another role on an existing name', args: ['create-base', 'NAME=web'], exit: 1, message: /already exists with role docker/ },
    { case: 'a negative size', args: ['create-docker', 'NAME=x', 'MEMORY=-5'], exit: 2, message: /MEMORY: memory is in MiB/ },
    { case: 'a size that is not a number', args: ['create-docker', 'NAME=x', 'CPUS=two'], exit: 2, message: /CPUS must be a whole number/ },
    { case: 'an absurd size', args: ['create-docker', 'NAME=x', 'CPUS=1000'], exit: 2, message: /CPUS: .*64/ },
    { case: 'a bad image name', args: ['create-docker', 'NAME=x', 'IMAGE=../etc'], exit: 2, message: /invalid image name/ },
    { case: 'an unknown machine (start)', args: ['start', 'NAME=nope'], exit: 2, message: /no machine named "nope".*\n.*Known machines: web/ },
    { case: 'an unknown machine (stop)', args: ['stop', 'NAME=nope'], exit: 2, message: /no machine named "nope"/ },
    { case: 'an unknown machine (ssh)', args: ['ssh', 'NAME=nope'], exit: 2, message: /no machine named "nope"/ },
    { case: 'an unknown machine (delete)', args: ['delete', 'NAME=nope', 'YES=1'], exit: 2, message: /no machine named "nope"/ },
    { case: 'no NAME for start', args: ['start'], exit: 2, message: /start needs a NAME/ },
    { case: 'delete without confirmation', args: ['delete', 'NAME=web'], exit: 1, message: /not confirmed.*\n.*YES=1/ },
    { case: 'an unknown DRIVER', args: ['create-docker', 'NAME=x', 'DRIVER=xen'], exit: 2, message: /unknown DRIVER "xen"/ },
  ])('$case', async ({ args, exit, message }) => {
    await writeFile(path.join(sandbox.labDir, 'lab.yaml'), labText);
    await sandbox.plan([libvirtUp]);
    const before = await sandbox.snapshot();
    const result = await sandbox.make(args);
    expect(result.stderr).toMatch(message);
    expect(result.stderr).toMatch(/next: /);
    // make reports a failed recipe as its own exit code 2; the CLI's own code is in make's message.
    expect(result.exitCode).not.toBe(0);
    expect(result.stderr).toContain(`Error ${exit}`);
    expect(await sandbox.snapshot()).toEqual(before);
    expect((await sandbox.calls()).filter((call) => call.tool !== 'virsh' || call.args[2] !== 'version')).toEqual([]);
    expect(existsSync(path.join(REPO, 'pwned'))).toBe(false);
  });

  it('malformed lab.yaml: the line and column, exit 2, the file untouched', async () => {
    const broken = '# mine\nmachines:\n  web:\n    role: [docker\n';
    await writeFile(path.join(sandbox.labDir, 'lab.yaml'), broken);
    const result = await sandbox.cli(['create', 'base', '--name', 'dev']);
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toMatch(/lab\.yaml:\d+:\d+: /);
    expect(await sandbox.readLab()).toBe(broken);
    expect(await sandbox.readVagrantfile()).toBeUndefined();
  });

  it('vagrant missing: says to run make setup, changes nothing', async () => {
    const bare = await Sandbox.create({ tools: ['virsh', 'qemu-img'] });
    try {
      await bare.plan([libvirtUp]);
      const result = await bare.cli(['create', 'docker', '--name', 'web']);
      expect(result.exitCode).toBe(1);
      expect(result.stderr).toContain('vagrant is not installed');
      expect(result.stderr).toContain('make setup');
      expect(await bare.snapshot()).toEqual({ lab: undefined, vagrantfile: undefined });
    } finally {
      await bare.cleanup();
    }
  });

  it('libvirtd not reachable: says so with the next step, changes nothing', async () => {
    await sandbox.plan([{ tool: 'virsh', args: [...URI, 'version'], exitCode: 1, stderr: fixture('virsh/connect-failed.stderr') }]);
    const before = await sandbox.snapshot();
    const result = await sandbox.cli(['create', 'docker', '--name', 'web']);
    expect(result.exitCode).toBe(1);
    expect(result.stderr).toContain('libvirtd is not reachable at qemu:///system: failed to connect to the hypervisor');
    expect(result.stderr).toContain('make setup');
    expect(await sandbox.snapshot()).toEqual(before);
  });
});

describe('ssh, stop, start, delete, list', () => {
  beforeEach(async () => {
    await writeFile(path.join(sandbox.labDir, 'lab.yaml'), 'name: lab\nmachines:\n  web:\n    role: docker\n');
  });

  it('ssh with CMD passes the command as one argument and returns its exit code', async () => {
    await sandbox.plan([{ tool: 'vagrant', args: ['ssh', 'web', '-c', 'test -f /etc/x; echo "$HOME"'], exitCode: 3, repeat: true }]);
    const result = await sandbox.cli(['ssh', 'web', '--cmd', 'test -f /etc/x; echo "$HOME"']);
    expect(result.exitCode).toBe(3);
    const viaMake = await sandbox.make(['ssh', 'NAME=web', 'CMD=test -f /etc/x; echo "$HOME"']);
    expect(viaMake.exitCode).not.toBe(0);
    expect(viaMake.stderr).toContain('Error 3');
  });

  it('stop halts, start boots without provisioning an existing domain', async () => {
    await sandbox.plan([
      libvirtUp,
      { tool: 'vagrant', args: ['halt', 'web'] },
      { ...webRunning(), stdout: webRunning().stdout!.replace('running', 'shut off') },
      dominfo('vmlab-lab-web', 2, 2048, 'shut off'),
      ...rootDisk('vmlab-lab-web', 20),
      ...hostReadings,
      { tool: 'vagrant', args: ['up', 'web', '--provider=libvirt'] },
    ]);
    expect((await sandbox.make(['stop', 'NAME=web'])).exitCode).toBe(0);
    expect((await sandbox.make(['start', 'NAME=web'])).exitCode).toBe(0);
    await sandbox.expectPlanDone();
  });

  it('delete destroys, removes leftover volumes of that machine only, then drops it from lab.yaml', async () => {
    await sandbox.plan([
      libvirtUp,
      webRunning(),
      // A domain's snapshots go before vagrant destroy (make snapshot); this one has none.
      { tool: 'virsh', args: [...URI, 'snapshot-list', 'vmlab-lab-web'], stdout: fixture('virsh/snapshot-list-empty.txt') },
      { tool: 'vagrant', args: ['destroy', '-f', 'web'] },
      noDomains,
      { tool: 'virsh', args: [...URI, 'vol-list', 'default'], stdout: fixture('virsh/vol-list.txt') },
      { tool: 'virsh', args: [...URI, 'vol-delete', '--pool', 'default', 'vmlab-lab-web.img'] },
      { tool: 'virsh', args: [...URI, 'net-list', '--all', '--name'], stdout: 'default\nvmlab-lab-net-10-20-0-0-24\nvmlab-other-back\n' },
      { tool: 'virsh', args: [...URI, 'net-dumpxml', 'vmlab-lab-net-10-20-0-0-24'], stdout: "<network>\n  <name>vmlab-lab-net-10-20-0-0-24</name>\n</network>\n" },
      { tool: 'virsh', args: [...URI, 'net-destroy', 'vmlab-lab-net-10-20-0-0-24'] },
      { tool: 'virsh', args: [...URI, 'net-undefine', 'vmlab-lab-net-10-20-0-0-24'] },
    ]);
    // The ssh settings make cp wrote for it, and another machine's, which stays.
    await mkdir(path.join(sandbox.home, 'ssh'), { recursive: true });
    await writeFile(path.join(sandbox.home, 'ssh', 'vmlab-lab-web.config'), 'Host web\n');
    await writeFile(path.join(sandbox.home, 'ssh', 'vmlab-lab-db.config'), 'Host db\n');
    const result = await sandbox.make(['delete', 'NAME=web', 'YES=1']);
    expect(result.exitCode, result.stderr).toBe(0);
    expect(existsSync(path.join(sandbox.home, 'ssh', 'vmlab-lab-web.config'))).toBe(false);
    expect(existsSync(path.join(sandbox.home, 'ssh', 'vmlab-lab-db.config'))).toBe(true);
    expect(await sandbox.readLab()).not.toContain('web:');
    expect(await sandbox.readVagrantfile()).not.toContain("define 'web'");
    expect(result.stderr).toContain('removed the lab\'s unused network vmlab-lab-net-10-20-0-0-24');
    await sandbox.expectPlanDone();
  });

  it('list reads states and IPs from libvirt, as a table and as JSON', async () => {
    const plan: PlannedCall[] = [
      libvirtUp,
      { ...webRunning(), repeat: true },
      { tool: 'virsh', args: [...URI, 'dominfo', 'vmlab-lab-web'], stdout: fixture('virsh/dominfo-running.txt'), repeat: true },
      { tool: 'virsh', args: [...URI, 'domifaddr', 'vmlab-lab-web'], stdout: fixture('virsh/domifaddr.txt'), repeat: true },
    ];
    await sandbox.plan(plan);
    const table = await sandbox.make(['list']);
    expect(table.exitCode, table.stderr).toBe(0);
    expect(table.stdout).toMatch(/NAME\s+ROLE\s+IMAGE\s+STATE\s+IP\s+CPUS\s+MEMORY/);
    expect(table.stdout).toMatch(/web\s+docker\s+docker\s+running\s+192\.168\.123\.45\s+2\s+2048 MiB/);
    expect(table.stdout).toMatch(/driver: (kvm|qemu)/);
    const json = await sandbox.make(['list', 'JSON=1']);
    const parsed = JSON.parse(json.stdout) as { machines: { name: string; state: string; ip: string }[] };
    expect(parsed.machines).toEqual([expect.objectContaining({ name: 'web', state: 'running', ip: '192.168.123.45' })]);
    expect((await sandbox.calls()).filter((call) => call.tool === 'vagrant')).toEqual([]);
  });

  it('list costs the same number of virsh processes with 1 running machine as with 3', async () => {
    const processes = async (names: string[]) => {
      await writeFile(path.join(sandbox.labDir, 'lab.yaml'), `name: lab\nmachines:\n${names.map((name) => `  ${name}: {role: docker}\n`).join('')}`);
      const rows = names.map((name, index) => ` ${index + 1}    vmlab-lab-${name}   running`).join('\n');
      await sandbox.plan([
        { ...libvirtUp, repeat: true },
        { tool: 'virsh', args: [...URI, 'list', '--all'], stdout: ` Id   Name   State\n--------------------\n${rows}\n\n`, repeat: true },
        ...names.flatMap((name): PlannedCall[] => [
          { tool: 'virsh', args: [...URI, 'dominfo', `vmlab-lab-${name}`], stdout: fixture('virsh/dominfo-running.txt'), repeat: true },
          { tool: 'virsh', args: [...URI, 'domifaddr', `vmlab-lab-${name}`], stdout: fixture('virsh/domifaddr.txt'), repeat: true },
        ]),
      ]);
      const result = await sandbox.make(['list', 'JSON=1']);
      expect(result.exitCode, result.stderr).toBe(0);
      expect((JSON.parse(result.stdout) as { machines: { ip: string }[] }).machines.map((machine) => machine.ip)).toEqual(names.map(() => '192.168.123.45'));
      const calls = (await sandbox.calls()).filter((call) => call.tool === 'virsh');
      expect(calls.filter((call) => call.unplanned)).toEqual([]);
      // A batch is one process however many commands it runs.
      return new Set(calls.map((call, index) => call.batch ?? `single-${index}`)).size;
    };
    const one = await processes(['web']);
    expect(await processes(['web', 'api', 'db'])).toBe(one);
  });
});

describe('make help', () => {
  it('lists every target of the Makefile with one line each', async () => {
    const result = await sandbox.make(['help']);
    expect(result.exitCode).toBe(0);
    const makefile = readFileSync(path.join(REPO, 'Makefile'), 'utf8');
    const targets = [...makefile.matchAll(/^([a-z0-9%-]+):.*## /gm)].map((match) => match[1]);
    expect(targets.length).toBeGreaterThan(10);
    for (const target of targets.filter((name) => name !== 'create-%')) expect(result.stdout).toMatch(new RegExp(`^  ${target}\\s+\\S`, 'm'));
    // Each role's own target with its description, as make's tab completion finds them too.
    for (const role of ['base', 'docker', 'k8s', 'lxd', 'kata', 'observer']) expect(result.stdout).toMatch(new RegExp(`^  create-${role}\\s+\\S`, 'm'));
    expect(result.stdout).not.toContain('create-%');
    for (const variable of ['QUIET=1', 'VERBOSE=1', 'DRY_RUN=1', 'JSON=1']) expect(result.stdout).toMatch(new RegExp(`^  ${variable}\\s+\\S`, 'm'));
  });

  it('declares one target per role, which make -p (and so bash completion of make) lists', async () => {
    const result = await execa('make', ['-C', REPO, '-qp'], { reject: false });
    for (const role of ['base', 'docker', 'k8s']) expect(result.stdout).toMatch(new RegExp(`^create-${role}:`, 'm'));
  });
});
