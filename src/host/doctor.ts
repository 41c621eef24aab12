import { constants } from 'node:fs';
import { access, statfs } from 'node:fs/promises';
import path from 'node:path';
import { parsePluginVersion, parseVagrantVersion, VAGRANT_ENV } from '../adapters/vagrant.js';
import type { Context } from '../context.js';
import { UserError } from '../errors.js';
import { homeProblem } from '../home-check.js';
import { loadWorkspace } from '../lab/workspace.js';
import { MANAGEMENT_NETWORK } from '../vagrantfile/vagrantfile-view.js';
import { readProbe } from './driver.js';
import { overlaps, parseRoutes } from './routes.js';

export interface Check {
  check: string;
  ok: boolean;
  /** Works, but not as well as it could (KVM unusable: software emulation). Not a failure. */
  warn?: boolean;
  detail: string;
  /** The next step when the check fails. */
  fix?: string;
}

const MIN_FREE_GIB = 10;
type Run = (file: string, args: string[], env?: Record<string, string>) => Promise<{ exitCode: number; stdout: string; stderr: string }>;

/** One line per prerequisite, each with the fix. Read-only; the checks run side by side (vagrant is slow to start). */
export async function runChecks(context: Context): Promise<Check[]> {
  const run: Run = (file, args, env) =>
    context.runner.run(file, args, { readOnly: true, check: false, env }).catch((error: Error) => ({ exitCode: 127, stdout: '', stderr: error.message }));
  const virsh = (args: string[]) => run('virsh', ['-c', context.libvirtUri, ...args]);
  const groups = await Promise.all([vagrantChecks(run), homeCheck(context), libvirtChecks(context, virsh), networkCheck(run, virsh), kvmChecks(context)]);
  return groups.flat();
}

/** VMLAB_HOME that does not exist or cannot be written, named as such (not as a lack of free space). */
async function homeCheck(context: Context): Promise<Check[]> {
  const problem = await homeProblem(context.home, Boolean(context.env.VMLAB_HOME));
  if (problem) return [{ check: 'VMLAB_HOME', ok: false, detail: problem.detail, fix: problem.fix }];
  return [{ check: 'VMLAB_HOME', ok: true, detail: `${context.home}, writable${context.env.VMLAB_HOME ? '' : ' (made on first use)'}` }];
}

async function vagrantChecks(run: Run): Promise<Check[]> {
  const [vagrant, plugins] = await Promise.all([run('vagrant', ['--version'], VAGRANT_ENV), run('vagrant', ['plugin', 'list'], VAGRANT_ENV)]);
  const version = parseVagrantVersion(vagrant.stdout);
  const plugin = parsePluginVersion(plugins.stdout, 'vagrant-libvirt');
  return [
    version ? { check: 'vagrant', ok: true, detail: version } : { check: 'vagrant', ok: false, detail: 'not installed', fix: 'make setup' },
    plugin ? { check: 'vagrant-libvirt', ok: true, detail: plugin } : { check: 'vagrant-libvirt', ok: false, detail: 'plugin not installed', fix: 'make setup' },
  ];
}

async function libvirtChecks(context: Context, virsh: (args: string[]) => ReturnType<Run>): Promise<Check[]> {
  const [version, pool] = await Promise.all([virsh(['version']), virsh(['pool-dumpxml', context.pool])]);
  const libvirtVersion = /Using library: libvirt ([\d.]+)/.exec(version.stdout)?.[1];
  const checks: Check[] = [
    version.exitCode === 0
      ? { check: 'libvirtd', ok: true, detail: `answering at ${context.libvirtUri}${libvirtVersion ? ` (libvirt ${libvirtVersion})` : ''}` }
      : { check: 'libvirtd', ok: false, detail: (version.stderr.trim().split('\n').at(-1) ?? 'not reachable').replace(/^error:\s*/, ''), fix: 'make setup (starts libvirtd)' },
  ];
  const poolPath = /<path>([^<]+)<\/path>/.exec(pool.stdout)?.[1];
  if (pool.exitCode !== 0 || !poolPath) {
    checks.push({ check: `pool ${context.pool}`, ok: false, detail: 'missing', fix: 'make setup (creates it)' });
  } else if (await access(poolPath, constants.W_OK).then(() => true, () => false)) {
    checks.push({ check: `pool ${context.pool}`, ok: true, detail: `${poolPath}, writable` });
  } else {
    checks.push({ check: `pool ${context.pool}`, ok: false, detail: `${poolPath} is not writable`, fix: 'run vmlab as root, or fix the pool folder permissions' });
  }
  // The free space of a VMLAB_HOME that is not usable is not the problem (homeCheck names it).
  const homeUsable = !(await homeProblem(context.home, Boolean(context.env.VMLAB_HOME)));
  const places: (readonly [string, string])[] = [['free disk (pool)', poolPath ?? '/var/lib/libvirt/images'], ...(homeUsable ? [['free disk (VMLAB_HOME)', context.home] as const] : [])];
  for (const [label, dir] of places) {
    const free = await freeGiB(dir);
    if (free === undefined) continue;
    checks.push(
      free >= MIN_FREE_GIB
        ? { check: label, ok: true, detail: `${free} GiB free in ${dir}` }
        : { check: label, ok: false, detail: `only ${free} GiB free in ${dir}`, fix: `free at least ${MIN_FREE_GIB} GiB (make images shows what images use)` },
    );
  }
  return checks;
}

async function networkCheck(run: Run, virsh: (args: string[]) => ReturnType<Run>): Promise<Check[]> {
  const [routes, info] = await Promise.all([run('ip', ['-4', 'route', 'show']), virsh(['net-info', MANAGEMENT_NETWORK.name])]);
  const bridge = /Bridge:\s+(\S+)/.exec(info.stdout)?.[1];
  const clash = parseRoutes(routes.stdout).find((route) => route.device !== bridge && overlaps(route.destination, MANAGEMENT_NETWORK.address));
  return [
    clash
      ? { check: 'management network', ok: false, detail: `${MANAGEMENT_NETWORK.address} overlaps the host route ${clash.destination} on ${clash.device}`, fix: 'remove the clashing network, or change the management network' }
      : { check: 'management network', ok: true, detail: `${MANAGEMENT_NETWORK.name} ${MANAGEMENT_NETWORK.address}, no clash with host routes` },
  ];
}

async function kvmChecks(context: Context): Promise<Check[]> {
  const probe = await readProbe(context.home);
  const kvm: Check = !probe
    ? { check: 'kvm', ok: true, detail: 'not probed yet (the first make create-* probes it)' }
    : probe.works
      ? { check: 'kvm', ok: true, detail: 'a test boot under KVM works' }
      : { check: 'kvm', ok: true, warn: true, detail: `a test boot under KVM failed: ${probe.detail}; VMs use QEMU software emulation instead (several times slower)`, fix: 'nothing to do to get VMs; for KVM see the README (KVM or software emulation)' };
  // The driver follows lab.yaml's driver:; a lab.yaml that cannot be used is its own line, not a crash.
  const workspace = await loadWorkspace(context).catch((error: unknown) => {
    if (error instanceof UserError) return error;
    throw error;
  });
  if (workspace instanceof UserError) return [kvm, { check: 'lab.yaml', ok: false, detail: workspace.message.split('\n')[0]!, fix: workspace.hint ?? '' }];
  const { driver } = workspace;
  return [kvm, { check: 'driver', ok: true, detail: `${driver.driver}: ${driver.reason}` }];
}

/** Free space where dir is (or would be created: its nearest existing parent). */
async function freeGiB(dir: string): Promise<number | undefined> {
  for (let current = dir; ; current = path.dirname(current)) {
    const stats = await statfs(current).catch(() => undefined);
    if (stats) return Math.floor((stats.bavail * stats.bsize) / 2 ** 30);
    if (current === path.dirname(current)) return undefined;
  }
}
