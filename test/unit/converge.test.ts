import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { parseDomstats } from '../../src/adapters/virsh.js';
import { assess, parseMeminfo, renderAdmission, type Claim, type HostCapacity } from '../../src/host/admission.js';
import { planLab, upToDate, type LiveDomain } from '../../src/lab/converge.js';
import { checkScript, parseCheckOutput } from '../../src/lab/healthchecks.js';
import type { ResolvedMachine } from '../../src/lab/resolve-machines.js';
import { checkSecrets } from '../../src/lab/secrets.js';
import { admissionSchema } from '../../src/lab/lab-schema.js';

const machine = (name: string, overrides: Partial<ResolvedMachine> = {}): ResolvedMachine => ({
  name, role: 'base', image: 'debian-12', box: 'vmlab/debian-12', domainPrefix: 'vmlab-lab-', domain: `vmlab-lab-${name}`,
  cpus: 1, memory: 1024, disk: 10, settings: {}, provision: [], groups: [], scripts: [], secrets: [], hosts: [], host: 'local', hostUri: null, ports: [], ...overrides,
});

describe('the converge plan', () => {
  const machines = [machine('new'), machine('off'), machine('same'), machine('bigger', { memory: 2048 }), machine('offbig', { cpus: 2 })];
  const live = new Map<string, LiveDomain>([
    ['vmlab-lab-off', { state: 'shut off', cpus: 1, memoryMiB: 1024 }],
    ['vmlab-lab-same', { state: 'running', cpus: 1, memoryMiB: 1024 }],
    ['vmlab-lab-bigger', { state: 'running', cpus: 1, memoryMiB: 1024 }],
    ['vmlab-lab-offbig', { state: 'shut off', cpus: 1, memoryMiB: 1024 }],
    ['vmlab-lab-stray', { state: 'running' }],
    ['vmlab-other-x', { state: 'running' }],
    ['someone-elses', { state: 'running' }],
  ]);
  const plan = planLab(machines, live, 'vmlab-lab-');

  it('creates what is missing, starts what is off, restarts what runs with other sizes, leaves the rest', () => {
    expect(plan.steps.map((step) => [step.machine.name, step.kind])).toEqual([
      ['new', 'create'], ['off', 'start'], ['same', 'nothing'], ['bigger', 'reconfigure'], ['offbig', 'start'],
    ]);
    expect(plan.steps[3]!.detail).toBe('memory 1024 -> 2048 MiB (needs a halt: the VM restarts)');
    expect(plan.steps[4]!.detail).toBe('shut off: boot it; cpus 1 -> 2 applied at boot');
    expect(upToDate(plan)).toBe(false);
  });

  it("reports the lab's domains that lab.yaml does not declare, and no one else's", () => {
    expect(plan.undeclared).toEqual([{ domain: 'vmlab-lab-stray', state: 'running' }]);
  });

  it('a group plan still counts the rest of the lab as declared', () => {
    const groupPlan = planLab([machine('same')], live, 'vmlab-lab-', machines.map((entry) => entry.domain));
    expect(groupPlan.undeclared.map((entry) => entry.domain)).toEqual(['vmlab-lab-stray']);
    expect(upToDate(groupPlan)).toBe(true);
  });
});

describe('resource admission', () => {
  const host: HostCapacity = { cpus: 2, memoryMiB: 8192, pool: 'default', poolPath: '/var/lib/libvirt/images', diskFreeBytes: 50 * 2 ** 30 };
  const admission = admissionSchema.parse({});
  const claim = (who: string, vcpus: number, memoryMiB: number, diskGiB = 0, state = 'to create'): Claim => ({ who, domain: `vmlab-lab-${who}`, state, vcpus, memoryMiB, diskBytes: diskGiB * 2 ** 30 });
  const running = [{ ...claim('a', 2, 2048, 0, 'running') }, { ...claim('b', 2, 2048, 0, 'running') }];

  it('defaults: vCPUs up to 4x the cores, memory up to the host minus a 2 GiB reserve, disks up to the free space', () => {
    const report = assess(host, running, [claim('c', 2, 2048, 20)], admission);
    expect(report.limits).toEqual({ vcpus: 8, memoryMiB: 6144, diskBytes: 50 * 2 ** 30 });
    expect(report.totals).toEqual({ vcpus: 6, memoryMiB: 6144, diskBytes: 20 * 2 ** 30 });
    expect(report.over).toEqual([]);
  });

  it('names every limit that would be crossed', () => {
    expect(assess(host, running, [claim('c', 6, 4096, 60)], admission).over).toEqual(['vcpus', 'memory', 'disk']);
  });

  it('a running VM about to restart with new sizes counts once, with its new sizes', () => {
    const report = assess(host, running, [claim('a', 2, 4096, 0, 'to restart')], admission);
    expect(report.totals.memoryMiB).toBe(6144);
    expect(report.over).toEqual([]);
  });

  it('the ratios and the reserve come from lab.yaml', () => {
    const generous = admissionSchema.parse({ cpuOvercommit: 8, memoryReserve: 0, memoryOvercommit: 1.5 });
    expect(assess(host, running, [claim('c', 6, 4096)], generous).limits).toMatchObject({ vcpus: 16, memoryMiB: 12288 });
  });

  it('nothing to start is never refused, even on a host already over its limits', () => {
    expect(assess(host, [claim('x', 64, 100000, 0, 'running')], [], admission).over).toEqual([]);
  });

  it('the table shows who uses what, the totals against the limits, and marks what is over', () => {
    const text = renderAdmission(assess(host, running, [claim('c', 2, 4096, 20)], admission));
    expect(text).toMatch(/^host: 2 cores, 8192 MiB memory; pool default/);
    expect(text).toMatch(/^a\s+running\s+2\s+2048 MiB\s+-$/m);
    expect(text).toMatch(/^\+ c\s+to create\s+2\s+4096 MiB\s+20\.0 GiB$/m);
    expect(text).toMatch(/^total\s+6\s+8192 MiB OVER\s+20\.0 GiB$/m);
    expect(text).toMatch(/^limit\s+8\s+6144 MiB\s+50\.0 GiB$/m);
  });

  it('reads MemTotal from /proc/meminfo and the running domains from virsh domstats', () => {
    expect(parseMeminfo('MemTotal:       24684084 kB\nMemFree:        1 kB\n')).toBe(24105);
    const stats = "Domain: 'vmlab-lab-a'\n  balloon.current=1048576\n  balloon.maximum=1048576\n  vcpu.current=2\n  vcpu.maximum=2\n\nDomain: 'other'\n  balloon.maximum=524288\n  vcpu.current=1\n";
    expect(parseDomstats(stats)).toEqual([
      { name: 'vmlab-lab-a', vcpus: 2, memoryMiB: 1024 },
      { name: 'other', vcpus: 1, memoryMiB: 512 },
    ]);
  });
});

describe('health checks', () => {
  const checks = [
    { name: 'docker answers', run: 'docker info' },
    { name: 'quotes and $(stuff)', run: `test "$(echo 'a;b')" = 'a;b'` },
  ];

  it('the remote command carries each check base64-encoded: no quote or $ of a check reaches a shell as text', () => {
    const script = checkScript(checks);
    expect(script).not.toContain('docker info');
    expect(script).not.toContain("'a;b'");
    // The root side is itself encoded; inside it, each check is.
    const runner = Buffer.from(/echo (\S+) \| base64 -d \| sudo bash$/.exec(script)![1]!, 'base64').toString();
    expect(runner).not.toContain('docker info');
    expect(runner).toContain(`check 1 ${Buffer.from(checks[1]!.run).toString('base64')}`);
  });

  it('the script runs each check under bash and reports its last line and exit code (run here, with the boot wait and sudo left out)', () => {
    const all = [...checks.slice(1), { name: 'two lines', run: 'echo one; echo two' }, { name: 'fails', run: 'echo bad >&2; exit 3' }];
    const script = checkScript(all).replace(/timeout \d+ systemctl is-system-running --wait/, 'echo running').replace(/\| sudo bash$/, '| bash');
    const out = execFileSync('bash', ['-c', script], { encoding: 'utf8' });
    expect(parseCheckOutput('web', all, out)).toEqual([
      { machine: 'web', check: 'quotes and $(stuff)', ok: true, detail: '' },
      { machine: 'web', check: 'two lines', ok: true, detail: 'two' },
      { machine: 'web', check: 'fails', ok: false, detail: 'exit 3: bad' },
    ]);
  });

  it('reads pass, fail with its last line, and checks that never reported', () => {
    const out = 'noise\nVMLAB-CHECK-OUT 0 Server Version: 20.10\nVMLAB-CHECK 0 0\nVMLAB-CHECK-OUT 1 boom\nVMLAB-CHECK 1 1\n';
    expect(parseCheckOutput('web', checks, out)).toEqual([
      { machine: 'web', check: 'docker answers', ok: true, detail: 'Server Version: 20.10' },
      { machine: 'web', check: 'quotes and $(stuff)', ok: false, detail: 'exit 1: boom' },
    ]);
    expect(parseCheckOutput('web', checks, 'VMLAB-CHECK 0 124\n')).toEqual([
      expect.objectContaining({ ok: false, detail: 'timed out after 60 s' }),
      expect.objectContaining({ ok: false, detail: 'did not run (the SSH session ended early)' }),
    ]);
  });

  it('waits for the guest to finish booting before the first check, and a failing check says when it had not', () => {
    const script = checkScript(checks);
    expect(script.indexOf('systemctl is-system-running --wait')).toBeGreaterThanOrEqual(0);
    expect(script.indexOf('systemctl is-system-running --wait')).toBeLessThan(script.indexOf('| sudo bash'));
    const failing = 'VMLAB-CHECK 0 0\nVMLAB-CHECK-OUT 1 Error: Storage pool not found\nVMLAB-CHECK 1 1\n';
    expect(parseCheckOutput('web', checks, `VMLAB-CHECK-BOOT running\n${failing}`).map((entry) => entry.detail)).toEqual(['', 'exit 1: Error: Storage pool not found']);
    expect(parseCheckOutput('web', checks, `VMLAB-CHECK-BOOT unfinished\n${failing}`)[1]?.detail).toBe(
      'exit 1: Error: Storage pool not found (the VM had not finished booting after 300 s: unfinished)',
    );
    const degraded = parseCheckOutput('web', checks, `VMLAB-CHECK-BOOT degraded\n${failing}`);
    expect(degraded[0]).toEqual({ machine: 'web', check: 'docker answers', ok: true, detail: '' });
    expect(degraded[1]?.detail).toMatch(/booted degraded: see systemctl --failed/);
  });
});

describe('secrets', () => {
  it('every secret a machine to provision declares must be in the environment; the message names variables, never values', () => {
    const machines = [machine('db', { secrets: ['DB_PASSWORD', 'TOKEN'] })];
    expect(() => checkSecrets(machines, { VMLAB_SECRET_DB_PASSWORD: 'hunter2' })).toThrowError(/secrets not set: VMLAB_SECRET_TOKEN \(for db\)/);
    expect(() => checkSecrets(machines, { VMLAB_SECRET_DB_PASSWORD: 'hunter2', VMLAB_SECRET_TOKEN: 't' })).not.toThrow();
    try {
      checkSecrets(machines, { VMLAB_SECRET_DB_PASSWORD: 'hunter2' });
    } catch (error) {
      expect(String(error)).not.toContain('hunter2');
    }
  });
});

describe('planLab: a first up that was cut off (issue 13)', () => {
  it('is made again, whatever libvirt holds for it', () => {
    const machine = { name: 'web', domain: 'vmlab-lab-web', image: 'docker', cpus: 2, memory: 2048 } as Parameters<typeof planLab>[0][number];
    const running = new Map([['vmlab-lab-web', { state: 'running', cpus: 2, memoryMiB: 2048 }]]);
    expect(planLab([machine], running, 'vmlab-lab-').steps[0]).toMatchObject({ kind: 'nothing' });
    expect(planLab([machine], running, 'vmlab-lab-', undefined, new Set(['vmlab-lab-web'])).steps[0]).toMatchObject({
      kind: 'create',
      state: 'running',
      detail: 'its first up was cut off (vmlab killed?): made again from image docker',
    });
    expect(planLab([machine], new Map(), 'vmlab-lab-', undefined, new Set(['vmlab-lab-web'])).steps[0]).toMatchObject({ kind: 'create', state: 'not created' });
  });
});
