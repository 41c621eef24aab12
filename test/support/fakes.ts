import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { setTimeout as sleep } from 'node:timers/promises';
import { spawn, type ChildProcess } from 'node:child_process';
import { UserError } from '../../src/errors.js';
import type { BuildOne } from '../../src/queue/build-one.js';
import type { Context } from '../../src/context.js';
import { recipeChain, recipeDigest } from '../../src/images/image-graph.js';

export const REPO = path.resolve(import.meta.dirname, '../..');
const FAKE = path.join(REPO, 'test/fakes/fake-tool.mjs');
const HOST_PROGRAMS = ['node', 'make', 'bash', 'sh', 'env', 'awk', 'find', 'rm', 'touch', 'cat', 'npm', 'sed', 'grep', 'dirname', 'uname', 'tar', 'ssh-keygen'];

export interface PlannedCall {
  tool: 'vagrant' | 'virsh' | 'qemu-img' | 'ip';
  args: string[];
  stdout?: string;
  stderr?: string;
  exitCode?: number;
  repeat?: boolean;
  /** The call takes this long (to see calls overlap). */
  delayMs?: number;
}

export interface Call {
  tool: string;
  args: string[];
  cwd: string;
  unplanned?: boolean;
  /** When the call started and ended (ms), for planned calls. */
  t0?: number;
  /** The virsh process that ran this command as part of a batch (its pid). */
  batch?: number;
  t1?: number;
}

/**
 * A sandbox for one CLI test: a lab folder, a registry folder and a PATH whose vagrant, virsh and
 * qemu-img are fakes answering from a plan. Nothing on the real host is touched.
 */
export class Sandbox {
  private constructor(
    readonly root: string,
    readonly labDir: string,
    readonly home: string,
    readonly fakeDir: string,
    readonly binDir: string,
  ) {}

  static async create(options: { tools?: PlannedCall['tool'][] } = {}): Promise<Sandbox> {
    const root = await mkdtemp(path.join(os.tmpdir(), 'vmlab-test-'));
    const sandbox = new Sandbox(root, path.join(root, 'lab'), path.join(root, 'home'), path.join(root, 'fake'), path.join(root, 'bin'));
    await Promise.all([sandbox.labDir, sandbox.home, sandbox.fakeDir, sandbox.binDir].map((dir) => mkdir(dir, { recursive: true })));
    for (const tool of options.tools ?? ['vagrant', 'virsh', 'qemu-img']) await symlink(FAKE, path.join(sandbox.binDir, tool));
    // Only the fakes and the few programs make and the CLI need are on PATH: the real vagrant and
    // virsh, if the host has them, can never be reached from a test.
    for (const program of HOST_PROGRAMS) {
      const found = ['/usr/local/bin', '/usr/bin', '/bin'].map((dir) => path.join(dir, program)).find((file) => existsSync(file));
      if (found) await symlink(found, path.join(sandbox.binDir, program));
    }
    if (!existsSync(path.join(sandbox.binDir, 'node'))) await symlink(process.execPath, path.join(sandbox.binDir, 'node'));
    await sandbox.plan([]);
    return sandbox;
  }

  async plan(calls: PlannedCall[]): Promise<void> {
    await writeFile(path.join(this.fakeDir, 'plan.json'), JSON.stringify(calls));
    await rm(path.join(this.fakeDir, 'used'), { recursive: true, force: true });
    await rm(path.join(this.fakeDir, 'calls.jsonl'), { force: true });
  }

  async calls(): Promise<Call[]> {
    const file = path.join(this.fakeDir, 'calls.jsonl');
    if (!existsSync(file)) return [];
    return (await readFile(file, 'utf8'))
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line) as Call);
  }

  /** The planned calls (not marked repeat) that nobody made. */
  async unusedCalls(): Promise<PlannedCall[]> {
    const plan = JSON.parse(await readFile(path.join(this.fakeDir, 'plan.json'), 'utf8')) as PlannedCall[];
    const used = new Set(await readdir(path.join(this.fakeDir, 'used')).catch(() => [] as string[]));
    return plan.filter((entry, index) => !entry.repeat && !used.has(String(index)));
  }

  /** Every call was planned and every planned call was made. */
  async expectPlanDone(): Promise<void> {
    const unplanned = (await this.calls()).filter((call) => call.unplanned);
    const unused = await this.unusedCalls();
    if (unplanned.length || unused.length) {
      throw new Error(`fake tools: unplanned ${JSON.stringify(unplanned)}; never called ${JSON.stringify(unused)}`);
    }
  }

  env(extra: Record<string, string> = {}): Record<string, string> {
    return {
      PATH: this.binDir,
      HOME: this.root,
      FAKE_DIR: this.fakeDir,
      VMLAB_LAB_DIR: this.labDir,
      VMLAB_HOME: this.home,
      NO_COLOR: '1',
      CI: 'true',
      VMLAB_AUTO_SETUP: '0',
      VMLAB_CACHE: path.join(this.root, 'cache'),
      ...extra,
    };
  }

  /** Run the built CLI as a user would, with only the sandbox's PATH. */
  async cli(args: string[], extraEnv: Record<string, string> = {}) {
    return execa(process.execPath, [path.join(REPO, 'bin/vmlab'), ...args], {
      env: this.env(extraEnv),
      extendEnv: false,
      reject: false,
      cwd: this.labDir,
      stdin: 'ignore',
    });
  }

  /** Run a make target of the repository, as a user types it. */
  async make(args: string[], extraEnv: Record<string, string> = {}) {
    return execa('make', ['-s', '-C', REPO, ...args], { env: this.env(extraEnv), extendEnv: false, reject: false, stdin: 'ignore' });
  }

  /**
   * A registry as a user has it after the first create: the base image (with the digest of its current
   * inputs, so it counts as up to date), the base and docker role images, and a recorded KVM probe.
   */
  async seedImages(): Promise<void> {
    const context = { projectRoot: REPO, env: {} } as Context;
    const [base, docker] = await recipeChain(context, 'docker');
    const baseRole = (await recipeChain(context, 'base'))[1];
    if (!base || !docker || !baseRole) throw new Error('the docker and base role images should stand on debian-12');
    const digest = await recipeDigest(context, base, undefined);
    const dockerDigest = await recipeDigest(context, docker, digest);
    const baseRoleDigest = await recipeDigest(context, baseRole, digest);
    const record = (name: string, extra: object) => ({
      name, kind: 'base', role: null, source: 'test', parent: null, created: '2026-11-20T10:00:00.000Z', sizeBytes: 120 * 2 ** 20,
      virtualSizeBytes: 8 * 2 ** 30, sha256: 'a'.repeat(64), inputDigest: digest, features: [], file: `${name}.box`,
      box: `vmlab/${name}`, boxVersion: '0.20261120100000', ...extra,
    });
    const index = {
      version: 1,
      images: {
        'debian-12': record('debian-12', { features: ['vmlab-identity'] }),
        base: record('base', { kind: 'role', role: 'base', parent: 'debian-12', inputDigest: baseRoleDigest, features: ['vmlab-identity', 'essentials', 'guest-agent', 'time-sync'] }),
        docker: record('docker', { kind: 'role', role: 'docker', parent: 'debian-12', inputDigest: dockerDigest, features: ['vmlab-identity', 'essentials', 'docker'] }),
      },
    };
    await mkdir(path.join(this.home, 'images'), { recursive: true });
    await writeFile(path.join(this.home, 'images/index.json'), JSON.stringify(index, null, 2));
    await mkdir(path.join(this.home, 'host'), { recursive: true });
    await writeFile(path.join(this.home, 'host/kvm-probe.json'), JSON.stringify({ works: false, detail: 'KVM internal error. Suberror: 1', probedAt: '2026-11-20T10:00:00.000Z' }));
  }

  async readLab(): Promise<string | undefined> {
    return readFile(path.join(this.labDir, 'lab.yaml'), 'utf8').catch(() => undefined);
  }

  async readVagrantfile(): Promise<string | undefined> {
    return readFile(path.join(this.labDir, 'Vagrantfile'), 'utf8').catch(() => undefined);
  }

  /**
   * lab.yaml, the Vagrantfile and the registry as they are now: compare before and after. The build
   * queue's jobs and the logs are history (a failed build is recorded as a failed job), not state.
   */
  async snapshot(): Promise<Record<string, string | undefined>> {
    const files: Record<string, string | undefined> = { lab: await this.readLab(), vagrantfile: await this.readVagrantfile() };
    for (const name of await readdir(this.home, { recursive: true }).catch(() => [] as string[])) {
      // The logs and the step durations are bookkeeping, not state a command is said to change.
      if (/^(queue|logs)(\/|$)|^step-times\.json/.test(name)) continue;
      files[`home/${name}`] = await readFile(path.join(this.home, name), 'utf8').catch(() => '<dir>');
    }
    return files;
  }

  async cleanup(): Promise<void> {
    await rm(this.root, { recursive: true, force: true });
  }
}

/**
 * A fake image build for the queue tests: FAKE_BUILD_STEPS steps (default 2) of FAKE_BUILD_STEP_MS each
 * (default 10), failing for the images listed in FAKE_BUILD_FAIL; on cancel it logs its clean-up and stops.
 */
export function fakeBuildOne(env: Record<string, string | undefined> = process.env, built: string[] = []): BuildOne {
  return async (context, image, { onStep, log, signal }) => {
    const steps = Number(env.FAKE_BUILD_STEPS ?? 2);
    const stepMs = Number(env.FAKE_BUILD_STEP_MS ?? 10);
    for (let step = 1; step <= steps; step++) {
      onStep(`${step}/${steps} fake step ${step}`, ((step - 1) / steps) * 100);
      log(`fake builder output for ${image}, step ${step}`);
      try {
        await sleep(stepMs, undefined, { signal });
      } catch {
        log(`fake build of ${image}: cleaning up after cancel`);
        throw new Error(`build of ${image} stopped`);
      }
    }
    if ((env.FAKE_BUILD_FAIL ?? '').split(',').includes(image)) throw new UserError(`building image ${image} failed (exit 1)`);
    built.push(image);
    context.ui.info(`fake build of ${image} finished`);
  };
}

/** A separate worker process (runWorker with fakeBuildOne), run from the TypeScript sources through vite-node. */
export async function queueWorkerArgv(dir: string): Promise<string[]> {
  const script = path.join(dir, 'queue-worker.ts');
  await writeFile(
    script,
    [
      `import { createContext } from ${JSON.stringify(path.join(REPO, 'src/context.ts'))};`,
      `import { runWorker } from ${JSON.stringify(path.join(REPO, 'src/queue/worker.ts'))};`,
      `import { fakeBuildOne } from ${JSON.stringify(path.join(REPO, 'test/support/fakes.ts'))};`,
      // vite-node's dev server exits on SIGTERM; a vmlab worker handles SIGTERM itself (make queue-cancel).
      `process.removeAllListeners('SIGTERM');`,
      `const run = await runWorker(createContext({}, process.env), fakeBuildOne(process.env), { progressIntervalMs: 100 });`,
      `process.stdout.write(JSON.stringify(run) + '\\n');`,
    ].join('\n'),
  );
  return [path.join(REPO, 'node_modules/vite-node/vite-node.mjs'), script];
}

export async function spawnQueueWorker(dir: string, env: Record<string, string>): Promise<ChildProcess> {
  return spawn(process.execPath, await queueWorkerArgv(dir), { cwd: REPO, env: { ...process.env, CI: 'true', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
}

/** virsh's connection argv, as vmlab passes it on every call. */
export const URI = ['-c', 'qemu:///system'];
export const libvirtUp: PlannedCall = { tool: 'virsh', args: [...URI, 'version'], stdout: 'Running hypervisor: QEMU 7.2.0\n', repeat: true };
export const noDomains: PlannedCall = { tool: 'virsh', args: [...URI, 'list', '--all'], stdout: ' Id   Name   State\n--------------------\n\n' };

/** `virsh list --all` with these domains. */
export function domainList(rows: [name: string, state: string][], repeat = false): PlannedCall {
  const lines = rows.map(([name, state], index) => ` ${state === 'running' ? index + 1 : '-'}    ${name}   ${state}`);
  return { tool: 'virsh', args: [...URI, 'list', '--all'], stdout: ` Id   Name   State\n--------------------\n${lines.join('\n')}\n\n`, repeat };
}

/** `virsh dominfo` of a domain with these sizes. */
export function dominfo(domain: string, cpus: number, memoryMiB: number, state = 'running'): PlannedCall {
  return {
    tool: 'virsh',
    args: [...URI, 'dominfo', domain],
    stdout: `Id:             1\nName:           ${domain}\nState:          ${state}\nCPU(s):         ${cpus}\nMax memory:     ${memoryMiB * 1024} KiB\nUsed memory:    ${memoryMiB * 1024} KiB\n`,
    repeat: true,
  };
}

/** The root disk of a domain about to boot, as disk-grow.ts reads it: its volume and its capacity. */
export function rootDisk(domain: string, gib = 10, dataDisks = 0): PlannedCall[] {
  const volume = `/var/lib/libvirt/images/${domain}.img`;
  const extra = Array.from({ length: dataDisks }, (_, index) => ` file   disk   vd${String.fromCharCode(98 + index)}   /var/lib/libvirt/images/${domain}-vd${String.fromCharCode(98 + index)}.qcow2\n`).join('');
  return [
    { tool: 'virsh', args: [...URI, 'domblklist', domain, '--details'], stdout: ` Type   Device   Target   Source\n----------------------------------\n file   disk     vda      ${volume}\n${extra}\n`, repeat: true },
    { tool: 'virsh', args: [...URI, 'vol-info', '--bytes', volume], stdout: `Name:           ${domain}.img\nType:           file\nCapacity:       ${gib * 1024 ** 3} bytes\nAllocation:     70000000 bytes\n`, repeat: true },
  ];
}

/** `virsh domstats` of the running domains: what resource admission counts. */
export function runningStats(domains: [name: string, vcpus: number, memoryMiB: number][] = []): PlannedCall {
  const text = domains.map(([name, vcpus, memory]) => `Domain: '${name}'\n  balloon.current=${memory * 1024}\n  balloon.maximum=${memory * 1024}\n  vcpu.current=${vcpus}\n  vcpu.maximum=${vcpus}\n`).join('\n');
  return { tool: 'virsh', args: [...URI, 'domstats', '--list-running', '--vcpu', '--balloon'], stdout: text, repeat: true };
}

/**
 * What creating or starting machines reads besides the domains: the running VMs (none), the pool's
 * folder and volumes (empty), the networks (none) and the state of a machine coming up (running); each
 * may be read any number of times.
 */
export const hostReadings: PlannedCall[] = [
  runningStats(),
  { tool: 'virsh', args: [...URI, 'pool-dumpxml', 'default'], stdout: '<pool type="dir"><target><path>/var/lib/libvirt/images</path></target></pool>\n', repeat: true },
  { tool: 'virsh', args: [...URI, 'vol-list', 'default'], stdout: ' Name   Path\n-----------------\n\n', repeat: true },
  { tool: 'virsh', args: [...URI, 'net-list', '--all', '--name'], stdout: '\n', repeat: true },
  { tool: 'virsh', args: [...URI, 'net-list', '--inactive', '--name'], stdout: '\n', repeat: true },
  // What vmlab reads every few seconds while vagrant brings a machine up (boot-watch.ts): all is well.
  { tool: 'virsh', args: [...URI, 'domstate', '*', '--reason'], stdout: 'running (booted)\n', repeat: true },
];

/** The health checks of a machine's role, all passing (or failing from index `failFrom` on). */
export function healthChecks(machine: string, count: number, failFrom = count): PlannedCall {
  const lines = Array.from({ length: count }, (_, index) => `VMLAB-CHECK-OUT ${index} fine\nVMLAB-CHECK ${index} ${index >= failFrom ? 1 : 0}`);
  return { tool: 'vagrant', args: ['ssh', machine, '-c', '*'], stdout: `${lines.join('\n')}\n` };
}
