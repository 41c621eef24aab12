import { constants } from 'node:fs';
import { access, statfs } from 'node:fs/promises';
import path from 'node:path';
import { parsePluginVersion, parseVagrantVersion, VAGRANT_ENV } from '../adapters/vagrant.js';
import type { Context } from '../context.js';
import { loadWorkspace } from '../lab/workspace.js';
import { MANAGEMENT_NETWORK } from '../vagrantfile/vagrantfile-view.js';
import { readProbe } from './driver.js';
import { overlaps, parseRoutes } from './routes.js';

export interface Check {
  check: string;
  ok: boolean;
  detail: string;
  /** The next step when the check fails. */
  fix?: string;
}

const MIN_FREE_GIB = 10;

/** One line per prerequisite, each with the fix. Read-only: doctor changes nothing. */
export async function runChecks(context: Context): Promise<Check[]> {
  const run = (file: string, args: string[], env?: Record<string, string>) =>
    context.runner.run(file, args, { readOnly: true, check: false, env }).catch((error: Error) => ({ exitCode: 127, stdout: '', stderr: error.message }));
  const virsh = (args: string[]) => run('virsh', ['-c', context.libvirtUri, ...args]);
  const checks: Check[] = [];

  const vagrant = await run('vagrant', ['--version'], VAGRANT_ENV);
  const vagrantVersion = parseVagrantVersion(vagrant.stdout);
  checks.push(vagrantVersion ? { check: 'vagrant', ok: true, detail: vagrantVersion } : { check: 'vagrant', ok: false, detail: 'not installed', fix: 'make setup' });
  const plugins = vagrantVersion ? await run('vagrant', ['plugin', 'list'], VAGRANT_ENV) : { stdout: '' };
  const plugin = parsePluginVersion(plugins.stdout, 'vagrant-libvirt');
  checks.push(plugin ? { check: 'vagrant-libvirt', ok: true, detail: plugin } : { check: 'vagrant-libvirt', ok: false, detail: 'plugin not installed', fix: 'make setup' });

  const version = await virsh(['version']);
  const libvirtVersion = /Running against daemon: ([\d.]+)/.exec(version.stdout)?.[1] ?? /Using library: libvirt ([\d.]+)/.exec(version.stdout)?.[1];
  checks.push(
    version.exitCode === 0
      ? { check: 'libvirtd', ok: true, detail: `answering at ${context.libvirtUri}${libvirtVersion ? ` (libvirt ${libvirtVersion})` : ''}` }
      : { check: 'libvirtd', ok: false, detail: (version.stderr.trim().split('\n').at(-1) ?? 'not reachable').replace(/^error:\s*/, ''), fix: 'make setup (starts libvirtd)' },
  );

  const pool = await virsh(['pool-dumpxml', context.pool]);
  const poolPath = /<path>([^<]+)<\/path>/.exec(pool.stdout)?.[1];
  if (pool.exitCode !== 0 || !poolPath) {
    checks.push({ check: `pool ${context.pool}`, ok: false, detail: 'missing', fix: 'make setup (creates it)' });
  } else {
    const writable = await access(poolPath, constants.W_OK).then(() => true, () => false);
    checks.push(writable ? { check: `pool ${context.pool}`, ok: true, detail: `${poolPath}, writable` } : { check: `pool ${context.pool}`, ok: false, detail: `${poolPath} is not writable`, fix: 'run vmlab as root, or fix the pool folder permissions' });
  }

  for (const [label, dir] of [['free disk (pool)', poolPath ?? '/var/lib/libvirt/images'], ['free disk (VMLAB_HOME)', context.home]] as const) {
    const free = await freeGiB(dir);
    if (free === undefined) continue;
    checks.push(free >= MIN_FREE_GIB ? { check: label, ok: true, detail: `${free} GiB free in ${dir}` } : { check: label, ok: false, detail: `only ${free} GiB free in ${dir}`, fix: `free at least ${MIN_FREE_GIB} GiB (make images shows what images use)` });
  }

  const routes = parseRoutes((await run('ip', ['-4', 'route', 'show'])).stdout);
  const bridge = /Bridge:\s+(\S+)/.exec((await virsh(['net-info', MANAGEMENT_NETWORK.name])).stdout)?.[1];
  const clash = routes.find((route) => route.device !== bridge && overlaps(route.destination, MANAGEMENT_NETWORK.address));
  checks.push(
    clash
      ? { check: 'management network', ok: false, detail: `${MANAGEMENT_NETWORK.address} overlaps the host route ${clash.destination} on ${clash.device}`, fix: 'remove the clashing network, or change the management network' }
      : { check: 'management network', ok: true, detail: `${MANAGEMENT_NETWORK.name} ${MANAGEMENT_NETWORK.address}, no clash with host routes` },
  );

  const probe = await readProbe(context.home);
  checks.push({
    check: 'kvm',
    ok: true,
    detail: probe ? (probe.works ? 'a test boot under KVM works' : `a test boot under KVM failed: ${probe.detail}`) : 'not probed yet (setup probes it once the base image is built)',
  });
  const { driver } = await loadWorkspace(context);
  checks.push({ check: 'driver', ok: true, detail: `${driver.driver}: ${driver.reason}` });
  return checks;
}

/** Free space where dir is (or would be created: its nearest existing parent). */
async function freeGiB(dir: string): Promise<number | undefined> {
  for (let current = dir; ; current = path.dirname(current)) {
    const stats = await statfs(current).catch(() => undefined);
    if (stats) return Math.floor((stats.bavail * stats.bsize) / 2 ** 30);
    if (current === path.dirname(current)) return undefined;
  }
}
