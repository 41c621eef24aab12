import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RealLab } from './real-lab.js';
import { freePort, TestSshd } from './test-sshd.js';

interface ListJson {
  machines: { name: string; state: string; ip: string | null; host: string }[];
}

/**
 * A machine on a remote libvirt host, on one VM: the "remote" host is this machine's libvirtd reached
 * through an sshd of the test's own (qemu+ssh://root@127.0.0.1:<port>/system?keyfile=..&no_verify=1).
 * Each step checks in that sshd's log that it went over SSH, and with the sshd stopped the machine's host
 * is unreachable: vmlab did not use the local socket.
 */
export function remoteHostSuite(): void {
  describe.sequential('machines on a remote libvirt host', () => {
    const lab = new RealLab('rh');
    const machine = 'rem';
    let sshd: TestSshd;
    const labYaml = (extra = '') => `# real-VM ring: a remote host\nname: ${lab.id}\nhosts:\n  far: ${sshd.uri()}\n${extra}machines: {}\n`;
    const list = async () => JSON.parse((await lab.make(['list', 'JSON=1'])).stdout) as ListJson;
    /** Runs a step and returns how many SSH sessions the host's sshd started meanwhile. */
    const overSsh = async <T>(step: () => Promise<T>): Promise<[T, number]> => {
      const before = await sshd.sessions();
      const result = await step();
      return [result, (await sshd.sessions()) - before];
    };

    beforeAll(async () => {
      await lab.open();
      sshd = new TestSshd(path.join(lab.root, 'sshd'));
      await sshd.start();
      await writeFile(path.join(lab.labDir, 'lab.yaml'), labYaml());
    }, 60_000);
    afterAll(async () => {
      // The machine goes while the host answers; then the sshd, its sessions and its key go too.
      if (sshd) await sshd.start().catch(() => undefined);
      await lab.cleanup([machine]);
      if (sshd) {
        await sshd.stop();
        await sshd.forgetHostKey();
      }
    }, 600_000);

    it('a host that does not answer: refused before anything changes, naming the URI, the SSH failure and the fix', async () => {
      const closed = await freePort();
      await writeFile(path.join(lab.labDir, 'lab.yaml'), labYaml(`  down: ${sshd.uri(closed)}\n`));
      const before = await readFile(path.join(lab.labDir, 'lab.yaml'), 'utf8');
      const result = await lab.make(['create-base', 'NAME=lost', 'HOST=down']);
      expect(result.exitCode).not.toBe(0);
      expect(result.stderr).toContain(`host down is not reachable at ${sshd.uri(closed)}`);
      expect(result.stderr).toMatch(/Connection refused/);
      expect(result.stderr).toContain(`ssh -p ${closed} root@127.0.0.1 virsh -c qemu:///system version`);
      expect(await readFile(path.join(lab.labDir, 'lab.yaml'), 'utf8')).toBe(before);
      expect(await lab.virsh(['list', '--all', '--name'])).not.toContain(lab.domain('lost'));
      await writeFile(path.join(lab.labDir, 'lab.yaml'), labYaml());
    }, 120_000);

    it("admission reads that host's own figures through its URI (virsh nodeinfo there, not /proc here)", async () => {
      const node = await lab.virsh(['nodeinfo']);
      const cores = Number(/^CPU\(s\):\s+(\d+)/m.exec(node)?.[1]);
      const memory = Math.floor(Number(/^Memory size:\s+(\d+) KiB/m.exec(node)?.[1]) / 1024);
      await writeFile(path.join(lab.labDir, 'lab.yaml'), labYaml(`admission: {memoryReserve: ${memory}}\n`));
      const [result, sessions] = await overSsh(() => lab.make(['create-base', `NAME=${machine}`, 'HOST=far']));
      expect(result.exitCode).not.toBe(0);
      expect(result.stderr).toContain('not enough room on host far: memory would go over the limit');
      expect(result.stderr).toContain(`host far: ${cores} cores, ${memory} MiB memory; pool default`);
      expect(sessions).toBeGreaterThan(0);
      expect(await lab.virsh(['list', '--all', '--name'])).not.toContain(lab.domain(machine));
      await writeFile(path.join(lab.labDir, 'lab.yaml'), labYaml());
    }, 300_000);

    it('make hosts and make doctor HOST=far reach it over SSH', async () => {
      const [hosts, sessions] = await overSsh(() => lab.make(['hosts', 'JSON=1']));
      expect(hosts.exitCode, hosts.all).toBe(0);
      const far = (JSON.parse(hosts.stdout) as { name: string; reachable: boolean; cpus: number; uri: string }[]).find((row) => row.name === 'far');
      expect(far).toMatchObject({ reachable: true, uri: sshd.uri() });
      expect(far!.cpus).toBeGreaterThan(0);
      expect(sessions).toBeGreaterThan(0);
      const doctor = await lab.make(['doctor', 'HOST=far']);
      expect(doctor.exitCode, doctor.all).toBe(0);
      expect(doctor.stdout).toMatch(/OK +libvirtd on far +answering at qemu\+ssh:\/\/root@127\.0\.0\.1/);
    }, 120_000);

    it('create-base HOST=far: the VM is made through the URI and answers over ssh through that host', async () => {
      const started = Date.now();
      const [create, sessions] = await overSsh(() => lab.make(['create-base', `NAME=${machine}`, 'HOST=far']));
      expect(create.exitCode, create.all?.slice(-3000)).toBe(0);
      process.stderr.write(`[measure] create-base on a remote host: ${((Date.now() - started) / 1000).toFixed(0)} s, ${sessions} SSH sessions to it\n`);
      expect(sessions).toBeGreaterThan(2);
      expect(await readFile(path.join(lab.labDir, 'lab.yaml'), 'utf8')).toMatch(/rem:\n +role: base\n +host: far\n/);
      expect(await readFile(path.join(lab.labDir, 'Vagrantfile'), 'utf8')).toContain(`libvirt.uri = '${sshd.uri()}'`);
      expect(await lab.virsh(['domstate', lab.domain(machine)])).toContain('running');
      const ssh = await lab.make(['ssh', `NAME=${machine}`, 'CMD=hostname']);
      expect(ssh.exitCode, ssh.all).toBe(0);
      expect(ssh.stdout.trim().split('\n').at(-1)).toBe(machine);
      const check = await lab.make(['check', `NAME=${machine}`]);
      expect(check.exitCode, check.all).toBe(0);
      // SSH to the guest went through the host: sshd forwarded to the guest's port 22 (vagrant-libvirt's proxy).
      const ip = (await list()).machines[0]!.ip;
      expect(await sshd.logText()).toMatch(new RegExp(`server_request_direct_tcpip: originator \\S+ port \\d+, target ${ip!.replaceAll('.', '\\.')} port 22`));
    }, 1_500_000);

    it('list shows it on host far, from that host (with the host gone: unreachable, not read locally)', async () => {
      const [listed, sessions] = await overSsh(() => lab.make(['list']));
      expect(listed.exitCode, listed.all).toBe(0);
      expect(listed.stdout).toMatch(new RegExp(`^${machine} +base +base +running +\\d+\\.\\d+\\.\\d+\\.\\d+ +1 +1024 MiB +far$`, 'm'));
      expect(sessions).toBeGreaterThan(0);
      expect((await list()).machines).toEqual([expect.objectContaining({ name: machine, state: 'running', host: 'far' })]);
      await sshd.stop();
      const away = await lab.make(['list', 'JSON=1']);
      expect(away.exitCode, away.all).toBe(0);
      expect((JSON.parse(away.stdout) as ListJson).machines[0]).toMatchObject({ name: machine, state: 'host unreachable', host: 'far' });
      expect(away.stderr).toContain('host far is not reachable');
      await sshd.start();
    }, 120_000);

    it("snapshots are taken and removed in that host's libvirt, through its URI", async () => {
      const [created, sessions] = await overSsh(() => lab.make(['snapshot', `NAME=${machine}`, 'ACTION=create', 'SNAP=remote1']));
      expect(created.exitCode, created.all).toBe(0);
      expect(sessions).toBeGreaterThan(0);
      expect(await lab.virsh(['snapshot-list', lab.domain(machine), '--name'])).toContain('remote1');
      const listed = await lab.make(['snapshot', `NAME=${machine}`, 'ACTION=list', 'JSON=1']);
      expect((JSON.parse(listed.stdout) as { name: string }[]).map((row) => row.name)).toEqual(['remote1']);
      const removed = await lab.make(['snapshot', `NAME=${machine}`, 'ACTION=delete', 'SNAP=remote1', 'YES=1']);
      expect(removed.exitCode, removed.all).toBe(0);
      expect(await lab.virsh(['snapshot-list', lab.domain(machine), '--name'])).not.toContain('remote1');
    }, 300_000);

    it('stop and start go through the host', async () => {
      const [stop, stopSessions] = await overSsh(() => lab.make(['stop', `NAME=${machine}`]));
      expect(stop.exitCode, stop.all).toBe(0);
      expect(stopSessions).toBeGreaterThan(0);
      expect((await list()).machines[0]!.state).toBe('shut off');
      const start = await lab.make(['start', `NAME=${machine}`]);
      expect(start.exitCode, start.all?.slice(-3000)).toBe(0);
      expect((await lab.make(['ssh', `NAME=${machine}`, 'CMD=true'])).exitCode).toBe(0);
    }, 900_000);

    it('delete removes the domain and its disk on that host and the entry in lab.yaml', async () => {
      const [deleted, sessions] = await overSsh(() => lab.make(['delete', `NAME=${machine}`, 'YES=1']));
      expect(deleted.exitCode, deleted.all).toBe(0);
      expect(sessions).toBeGreaterThan(0);
      expect(await lab.virsh(['list', '--all', '--name'])).not.toContain(lab.domain(machine));
      expect(await lab.virsh(['vol-list', 'default'])).not.toContain(lab.domain(machine));
      expect(await readFile(path.join(lab.labDir, 'lab.yaml'), 'utf8')).not.toContain(`${machine}:`);
    }, 300_000);
  });
}
