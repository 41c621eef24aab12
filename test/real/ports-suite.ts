import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO } from '../support/fakes.js';
import { RealLab } from './real-lab.js';

/** A free TCP port on this host (the kernel picks one, and it is let go at once). */
async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** The first bytes a TCP service sends on host 127.0.0.1:port ("" when nothing answers within 10 s). */
async function banner(port: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    const done = (text: string) => {
      socket.destroy();
      resolve(text);
    };
    socket.setTimeout(10_000, () => done(''));
    socket.once('data', (data) => done(data.toString()));
    socket.once('error', () => done(''));
  });
}

/**
 * Issue 17 items 1, 2, 4, 5 on one real VM of the base image (debian-12, no role image build): forwarded
 * ports (refused when out of range or taken, before anything changes; working after create, after the host
 * side loses its tunnels, after stop and start, after resume), make cp both ways with directories and names
 * with spaces, make console through a pty to a login prompt, make suspend / resume / up with managed save.
 * The guest's sshd is the service behind the forwarded ports: the image needs nothing more.
 */
export function portsSuite(): void {
  describe.sequential('ports, cp, console, suspend on one VM', () => {
    const lab = new RealLab('pt');
    const machine = 'pv';
    let wide = 0;
    let local = 0;
    let labText = '';
    const labYaml = (ports: string[]) => `name: ${lab.id}\nmachines:\n  ${machine}:\n    role: plain\n    memory: 512\n    ports: [${ports.map((port) => JSON.stringify(port)).join(', ')}]\n`;
    const list = async () => JSON.parse((await lab.make(['list', 'JSON=1'])).stdout) as { machines: { name: string; state: string; ports: { hostIp: string; hostPort: number; guestPort: number }[] }[] };
    const ssh = (command: string) => lab.make(['ssh', `NAME=${machine}`, `CMD=${command}`]);
    /** The command that should have brought the ports back: its output is the failure's message. */
    const expectForwarded = async (after?: { all?: string }) => {
      const logs = path.join(lab.env.VMLAB_HOME!, 'logs');
      const tunnels = await Promise.all((await readdir(logs).catch(() => [] as string[])).filter((name) => name.startsWith('tunnel-')).map(async (name) => `${name}:\n${await readFile(path.join(logs, name), 'utf8').catch(() => '')}`));
      const output = `${after?.all?.slice(-3000) ?? ''}\n${tunnels.join('\n')}`;
      expect(await banner(wide), output).toMatch(/^SSH-2\.0-OpenSSH/);
      expect(await banner(local), output).toMatch(/^SSH-2\.0-OpenSSH/);
    };

    beforeAll(async () => {
      await lab.open({ copyProject: true });
      // The base image as it is: a role on debian-12 whose one feature does nothing (no role image to build).
      await writeFile(path.join(lab.project, 'scripts/features/noop.sh'), '#!/bin/sh\ntrue\n');
      await writeFile(path.join(lab.project, 'roles/plain.yaml'), 'description: debian-12 as built\nimage: debian-12\nparent: debian-12\nresources: {cpus: 1, memory: 512, disk: 10}\nfeatures: [noop]\n');
      wide = await freePort();
      local = await freePort();
    });
    afterAll(() => lab.cleanup([machine]), 600_000);

    it('refuses a port out of range, and a host port another program holds (naming it), before anything changes', async () => {
      await writeFile(path.join(lab.labDir, 'lab.yaml'), labYaml([`${wide}:22`, '127.0.0.1:70000:22']));
      const bad = await lab.make(['up']);
      expect(bad.exitCode).not.toBe(0);
      expect(bad.stderr).toMatch(/lab\.yaml:\d+:\d+: .*"127\.0\.0\.1:70000:22": the host port 70000 is out of range \(1-65535\)/);

      labText = labYaml([`${wide}:22`, `127.0.0.1:${local}:22`]);
      await writeFile(path.join(lab.labDir, 'lab.yaml'), labText);
      const holder = net.createServer();
      await new Promise<void>((resolve) => holder.listen(local, '127.0.0.1', resolve));
      try {
        const taken = await lab.make(['up']);
        expect(taken.exitCode).not.toBe(0);
        // The holder is this test's own process (node, named "node (vitest N)" by vitest).
        expect(taken.stderr).toContain(`${machine}: host port ${local} ("127.0.0.1:${local}:22") is taken by `);
        expect(taken.stderr).toContain(`(pid ${process.pid}) on 127.0.0.1`);
      } finally {
        await new Promise((resolve) => holder.close(resolve));
      }
      expect(await lab.virsh(['list', '--all', '--name'])).not.toContain(lab.domain(machine));
      expect(await readFile(path.join(lab.labDir, 'lab.yaml'), 'utf8')).toBe(labText);
    }, 300_000);

    it('make up creates the VM with its ports forwarded, and make list shows them (JSON=1 too)', async () => {
      const up = await lab.make(['up']);
      expect(up.exitCode, up.all?.slice(-3000)).toBe(0);
      await expectForwarded();
      const row = (await list()).machines.find((entry) => entry.name === machine);
      expect(row).toMatchObject({ state: 'running', ports: [{ hostIp: '0.0.0.0', hostPort: wide, guestPort: 22 }, { hostIp: '127.0.0.1', hostPort: local, guestPort: 22 }] });
      expect((await lab.make(['list'])).stdout).toMatch(new RegExp(`${machine} .*running.*${wide}->22, 127\\.0\\.0\\.1:${local}->22`));
    }, 1_200_000);

    it('make up brings back the tunnels the host side lost while the VM ran', async () => {
      const pids = path.join(lab.labDir, '.vagrant/machines', machine, 'libvirt/pids');
      for (const file of await readdir(pids)) process.kill(Number((await readFile(path.join(pids, file), 'utf8')).trim()), 'SIGTERM');
      await sleep(1000);
      expect(await banner(local)).toBe('');
      const up = await lab.make(['up']);
      expect(up.exitCode, up.all).toBe(0);
      expect(up.stderr).toContain(`${machine}: forwarding ${wide}:22, 127.0.0.1:${local}:22 again`);
      await expectForwarded();
    }, 300_000);

    it('make cp copies a directory out and one in, names with spaces as one word, and fails with the copy', async () => {
      expect((await ssh('mkdir -p "/tmp/out dir/sub" && echo from-guest > "/tmp/out dir/sub/a file.txt"')).exitCode).toBe(0);
      const host = path.join(lab.root, 'copies');
      await mkdir(path.join(host, 'in dir'), { recursive: true });
      await writeFile(path.join(host, 'in dir', 'b file.txt'), 'from-host\n');
      const out = await lab.make(['cp', `SRC=${machine}:/tmp/out dir`, `DST=${host}/got`]);
      expect(out.exitCode, out.all).toBe(0);
      expect(await readFile(path.join(host, 'got/sub/a file.txt'), 'utf8')).toBe('from-guest\n');
      const into = await lab.make(['cp', `SRC=${host}/in dir`, `DST=${machine}:/tmp/`]);
      expect(into.exitCode, into.all).toBe(0);
      expect((await ssh('cat "/tmp/in dir/b file.txt"')).stdout).toContain('from-host');
      const missing = await lab.make(['cp', `SRC=${machine}:/tmp/no such file`, `DST=${host}/`]);
      expect(missing.exitCode).not.toBe(0);
      expect(missing.stderr).toMatch(/scp exited with 1[\s\S]*Error 1/);
    }, 300_000);

    it('make console attaches to the serial console: a login prompt, and Ctrl+] leaves it', async () => {
      // script(1) gives make a terminal, as a user's shell would; the test types Enter, then Ctrl+].
      const command = `make -s -C ${REPO} console NAME=${machine}`;
      const child = execa('script', ['-qfec', command, '/dev/null'], { env: lab.env, reject: false, stdin: 'pipe', all: true, timeout: 120_000 });
      let seen = '';
      child.all?.on('data', (data: Buffer) => (seen += data.toString()));
      for (let attempt = 0; attempt < 60 && !/login:/.test(seen); attempt++) {
        child.stdin?.write('\r');
        await sleep(1000);
      }
      child.stdin?.write('\x1d');
      const result = await child;
      expect(seen).toContain('Ctrl+] to leave');
      expect(seen).toMatch(new RegExp(`${machine} login:`));
      expect(result.exitCode, seen.slice(-2000)).toBe(0);
    }, 180_000);

    it('ports work again after make stop and make start', async () => {
      expect((await lab.make(['stop', `NAME=${machine}`])).exitCode).toBe(0);
      expect(await banner(local)).toBe('');
      const start = await lab.make(['start', `NAME=${machine}`]);
      expect(start.exitCode, start.all?.slice(-3000)).toBe(0);
      await expectForwarded();
    }, 900_000);

    it('make suspend saves it with its memory (list: saved, not counted as running), make up and make resume bring it back as it was', async () => {
      // /dev/shm lives in the guest's memory only: it survives a managed save, never a reboot.
      expect((await ssh('echo kept > /dev/shm/marker')).exitCode).toBe(0);
      const resourcesBefore = (await lab.make(['resources', 'JSON=1'])).stdout;
      expect(resourcesBefore).toContain(lab.domain(machine));

      const suspend = await lab.make(['suspend', `NAME=${machine}`]);
      expect(suspend.exitCode, suspend.all).toBe(0);
      expect((await list()).machines[0]?.state).toBe('saved');
      expect(await lab.virsh(['dominfo', lab.domain(machine)])).toMatch(/Managed save:\s+yes/);
      expect((await lab.make(['resources', 'JSON=1'])).stdout).not.toContain(lab.domain(machine));
      expect(await banner(local)).toBe('');
      expect((await lab.make(['plan'])).stdout).toMatch(/saved: resume it/);

      const up = await lab.make(['up']);
      expect(up.exitCode, up.all?.slice(-3000)).toBe(0);
      expect((await list()).machines[0]?.state).toBe('running');
      expect((await ssh('cat /dev/shm/marker')).stdout).toContain('kept');
      await expectForwarded(up);

      expect((await lab.make(['suspend', `NAME=${machine}`])).exitCode).toBe(0);
      const resume = await lab.make(['resume', `NAME=${machine}`]);
      expect(resume.exitCode, resume.all?.slice(-3000)).toBe(0);
      expect((await ssh('cat /dev/shm/marker')).stdout).toContain('kept');
      await expectForwarded(resume);
    }, 900_000);
  });
}
