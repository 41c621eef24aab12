import { createHash } from 'node:crypto';
import { readdir, readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RealLab } from './real-lab.js';

/**
 * A lab declared in lab.yaml, on real VMs: a group of three small VMs on a private network with
 * static addresses comes up side by side and its machines ping each other by name; plan and a second up
 * change nothing; raised memory is applied; a machine grown beyond the host is refused with the table and
 * FORCE=1 lets it through; a failing role check fails make check; a secret reaches its provision script
 * and is found in no file, log or argv; destroy removes the VMs and the network and keeps lab.yaml.
 */
export function labsSuite(): void {
  describe.sequential('a declared lab of three VMs', () => {
    const lab = new RealLab('lb');
    const names = ['trio-1', 'trio-2', 'trio-3'];
    const secret = `s3cret-${process.pid}-${Date.now()}`;
    let labText = '';
    beforeAll(async () => {
      await lab.open({ copyProject: true });
      // A role with its own image, as a k8s cluster's nodes have: the base role's features baked in by the
      // image build (a chroot, no VM), so that the three VMs boot ready instead of each installing them.
      const base = await readFile(path.join(lab.project, 'roles', 'base.yaml'), 'utf8');
      await writeFile(path.join(lab.project, 'roles', 'node.yaml'), base.replace(/^image: base$/m, 'image: node').replace(/^description: .*$/m, 'description: "A lab node, the base role in its own image"'));
      await writeFile(path.join(lab.labDir, 'token.sh'), '#!/bin/sh\nset -eu\nprintf %s "$TOKEN" | sha256sum | cut -d" " -f1 > /root/token.sha256\n');
      labText = [
        `name: ${lab.id}`,
        'networks:',
        '  trio: 10.77.0.0/24',
        'machines:',
        ...names.map((name, index) =>
          [`  ${name}:`, '    role: node', '    memory: 512', '    group: trio', '    network: trio', `    ip: 10.77.0.${11 + index}`, ...(index === 0 ? ['    provision: [token.sh]', '    secrets: [TOKEN]'] : [])].join('\n'),
        ),
        '',
      ].join('\n');
      await writeFile(path.join(lab.labDir, 'lab.yaml'), labText);
    });
    afterAll(() => lab.cleanup(names), 900_000);

    const ssh = async (machine: string, command: string) => {
      const result = await lab.make(['ssh', `NAME=${machine}`, `CMD=${command}`]);
      expect(result.exitCode, result.all?.slice(-2000)).toBe(0);
      return result.stdout.trim();
    };

    it('make plan says all three would be created; make up GROUP= brings them up side by side; no argv ever holds the secret', async () => {
      const build = await lab.make(['build', 'ROLE=node']);
      expect(build.exitCode, build.all?.slice(-3000)).toBe(0);
      const plan = JSON.parse((await lab.make(['plan', 'GROUP=trio', 'JSON=1'])).stdout) as { machines: { name: string; action: string }[] };
      expect(plan.machines.map((machine) => machine.action)).toEqual(['create', 'create', 'create']);
      const argvs = new Set<string>();
      let sampling = true;
      const sampler = (async () => {
        while (sampling) {
          for (const pid of (await readdir('/proc')).filter((entry) => /^\d+$/.test(entry))) {
            argvs.add(await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => ''));
          }
          await new Promise((resolve) => setTimeout(resolve, 100));
        }
      })();
      const started = Date.now();
      const up = await lab.make(['up', 'GROUP=trio'], { VMLAB_SECRET_TOKEN: secret });
      process.stderr.write(`[measure] make up GROUP=trio (3 VMs of a role image, side by side): ${((Date.now() - started) / 1000).toFixed(0)} s\n`);
      sampling = false;
      await sampler;
      expect(up.exitCode, up.all?.slice(-4000)).toBe(0);
      expect(up.all).toMatch(/goes first: it creates/);
      expect(up.all).toContain('trio-1, trio-2, trio-3 are up.');
      // The sampler saw the processes that carry the secret's way: vagrant up of the machine, and its VM.
      const seen = [...argvs].map((argv) => argv.replaceAll('\0', ' '));
      expect(seen.some((argv) => /vagrant up trio-1\b/.test(argv))).toBe(true);
      expect(seen.some((argv) => argv.includes('qemu-system') && argv.includes(lab.domain('trio-1')))).toBe(true);
      expect([...argvs].filter((argv) => argv.includes(secret))).toEqual([]);
    }, 2_400_000);

    it('the machines reach each other by name on their static addresses', async () => {
      for (const [index, name] of names.entries()) {
        const others = names.filter((other) => other !== name);
        const out = await ssh(name, `ip -4 -o addr show | grep -c "10.77.0.${11 + index}/24"; for h in ${others.join(' ')}; do ping -c1 -W10 $h >/dev/null && echo reached-$h; done`);
        expect(out.split('\n')).toEqual(['1', ...others.map((other) => `reached-${other}`)]);
      }
    }, 600_000);

    it("each machine has its own key, made on the host and readable by its owner only; Vagrant's insecure key never logs in", async () => {
      const keys = new Set<string>();
      for (const name of names) {
        const config = await execa('vagrant', ['ssh-config', name], { cwd: lab.labDir, env: { ...lab.env, VAGRANT_CHECKPOINT_DISABLE: '1' }, reject: false });
        expect(config.exitCode, config.stderr).toBe(0);
        const identity = /^\s*IdentityFile\s+(\S+)$/m.exec(config.stdout)?.[1]?.replace(/^"|"$/g, '') ?? '';
        expect(identity).toBe(path.join(lab.env.VMLAB_HOME!, 'keys', lab.domain(name)));
        expect(config.stdout).not.toContain('insecure_private_key');
        expect((await stat(identity)).mode & 0o077).toBe(0);
        const key = (await readFile(`${identity}.pub`, 'utf8')).trim();
        expect(await ssh(name, 'cat ~/.ssh/authorized_keys')).toBe(key);
        keys.add(key);
      }
      expect(keys.size).toBe(names.length);
    }, 300_000);

    it('the secret reached its provision script, and is in no file of the lab, the registry or the logs', async () => {
      expect(await ssh('trio-1', 'sudo cat /root/token.sha256')).toBe(createHash('sha256').update(secret).digest('hex'));
      const leaks: string[] = [];
      const walk = async (dir: string): Promise<void> => {
        for (const entry of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
          const file = path.join(dir, entry.name);
          if (entry.isDirectory()) await walk(file);
          else if (entry.isFile() && (await stat(file)).size < 50 * 2 ** 20 && (await readFile(file)).includes(secret)) leaks.push(file);
        }
      };
      await walk(lab.root);
      await walk('/var/log/libvirt');
      expect(leaks).toEqual([]);
    }, 300_000);

    it('make plan and a second make up report no change', async () => {
      const plan = await lab.make(['plan']);
      expect(plan.stdout).toContain('The lab is up to date');
      const again = await lab.make(['up']);
      expect(again.exitCode, again.all).toBe(0);
      expect(again.all).toContain('The lab is up to date: nothing to do.');
      expect(again.all).not.toMatch(/Bringing machine|Halting/);
    }, 300_000);

    it('raised memory shows in plan and make up applies it (a halt and a boot)', async () => {
      await writeFile(path.join(lab.labDir, 'lab.yaml'), labText.replace(/(trio-3:\n {4}role: node\n {4}memory: )512/, '$1640'));
      const plan = JSON.parse((await lab.make(['plan', 'JSON=1'])).stdout) as { machines: { name: string; action: string; detail: string }[] };
      expect(plan.machines.find((machine) => machine.name === 'trio-3')).toMatchObject({ action: 'reconfigure', detail: expect.stringContaining('memory 512 -> 640 MiB') });
      const up = await lab.make(['up']);
      expect(up.exitCode, up.all?.slice(-3000)).toBe(0);
      expect(await lab.virsh(['dominfo', lab.domain('trio-3')])).toMatch(/Max memory:\s+655360 KiB/);
      expect(await lab.virsh(['domstate', lab.domain('trio-3')])).toContain('running');
    }, 1_200_000);

    it('a machine grown beyond the host is refused with the table, and FORCE=1 lets it through', async () => {
      const resources = JSON.parse((await lab.make(['resources', 'JSON=1'])).stdout) as { limits: { memoryMiB: number }; totals: { memoryMiB: number } };
      // trio-3 (640 MiB now) asks for just more than what the others leave under the limit.
      const huge = resources.limits.memoryMiB - (resources.totals.memoryMiB - 640) + 256;
      const grown = labText.replace(/(trio-3:\n {4}role: node\n {4}memory: )512/, `$1${huge}`);
      await writeFile(path.join(lab.labDir, 'lab.yaml'), grown);
      const refused = await lab.make(['up']);
      expect(refused.exitCode).not.toBe(0);
      expect(refused.stderr).toContain('not enough room on this host: memory would go over the limit');
      expect(refused.stderr).toMatch(new RegExp(`^\\+ trio-3\\s+to restart\\s+1\\s+${huge} MiB`, 'm'));
      expect(refused.stderr).toMatch(/^limit\s+\d+\s+\d+ MiB/m);
      expect(await lab.virsh(['dominfo', lab.domain('trio-3')])).toMatch(/Max memory:\s+655360 KiB/);
      const forced = await lab.make(['up', 'FORCE=1']);
      expect(forced.exitCode, forced.all?.slice(-3000)).toBe(0);
      expect(forced.all).toContain("starting beyond this host's limits (memory) because of FORCE=1");
      expect(await lab.virsh(['dominfo', lab.domain('trio-3')])).toContain(`Max memory:     ${huge * 1024} KiB`);
    }, 1_200_000);

    it("a role's failing health check fails make check, and the passing ones pass", async () => {
      const role = path.join(lab.project, 'roles', 'node.yaml');
      await writeFile(role, `${await readFile(role, 'utf8')}  - name: a file nobody made\n    run: test -e /nonexistent-vmlab-check\n`);
      const result = await lab.make(['check', 'GROUP=trio', 'JSON=1']);
      expect(result.exitCode).not.toBe(0);
      const checks = JSON.parse(result.stdout) as { machine: string; check: string; ok: boolean }[];
      expect(checks.filter((check) => !check.ok).map((check) => `${check.machine}: ${check.check}`)).toEqual(names.map((name) => `${name}: a file nobody made`));
      expect(checks.filter((check) => check.ok)).toHaveLength(9);
    }, 600_000);

    it('destroy GROUP= YES=1 removes the VMs and their network, and keeps them in lab.yaml', async () => {
      const before = await readFile(path.join(lab.labDir, 'lab.yaml'), 'utf8');
      const result = await lab.make(['destroy', 'GROUP=trio', 'YES=1']);
      expect(result.exitCode, result.all?.slice(-3000)).toBe(0);
      const domains = await lab.virsh(['list', '--all', '--name']);
      for (const name of names) expect(domains).not.toContain(lab.domain(name));
      expect(await lab.virsh(['net-list', '--all', '--name'])).not.toContain(`vmlab-${lab.id}-trio`);
      expect(await readFile(path.join(lab.labDir, 'lab.yaml'), 'utf8')).toBe(before);
      const plan = JSON.parse((await lab.make(['plan', 'JSON=1'])).stdout) as { machines: { action: string }[] };
      expect(plan.machines.map((machine) => machine.action)).toEqual(['create', 'create', 'create']);
    }, 600_000);
  });
}
