import { access, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import type { Context } from '../context.js';
import { CommandError, UserError } from '../errors.js';
import { FAILURE_TAIL } from '../lab/parallel.js';
import { JobLog } from '../queue/job-log.js';
import { StepBoard } from '../ui/steps.js';
import { Registry } from '../images/registry.js';
import { readProbe } from './driver.js';
import { findOnPath } from './find-on-path.js';
import { probeKvm } from './kvm-probe.js';
import { HOST_PACKAGES, parseMissingPackages, parseOsRelease } from './packages.js';

/**
 * Make the host ready, idempotently: packages, /dev/kvm access, libvirt's daemons, the storage pool,
 * the KVM probe. Each step checks first and acts only when needed; a ready host takes well under a second.
 */
export async function setupHost(context: Context): Promise<void> {
  const os = parseOsRelease(await readFile('/etc/os-release', 'utf8').catch(() => ''));
  const missing = await missingPackages(context);
  if (![os.id, ...os.like].some((id) => id === 'debian' || id === 'ubuntu')) {
    if (missing.length) {
      throw new UserError(`this host (${os.id || 'unknown OS'}) is not Debian or Ubuntu; vmlab setup installs with apt`, `Install the equivalents of: ${missing.join(' ')}`);
    }
  }
  if (process.getuid?.() !== 0 && !context.dryRun) {
    const command = missing.length ? `sudo apt-get install -y --no-install-recommends ${missing.join(' ')} && sudo make setup` : 'sudo make setup';
    throw new UserError('setting up the host needs root (packages, daemons, the storage pool)', `Run: ${command}`);
  }
  const say = (status: 'ok' | 'done', text: string) => context.ui.info(`${status === 'ok' ? 'ok  ' : 'done'}  ${text}`);

  if (missing.length) {
    context.ui.info(`installing ${missing.join(' ')}`);
    const env = { DEBIAN_FRONTEND: 'noninteractive' };
    await aptStep(context, 'apt update', ['update', '-q'], env);
    await aptStep(context, 'apt install', ['install', '-y', '-q', '--no-install-recommends', ...missing], env);
    say('done', `packages: installed ${missing.join(' ')}`);
  } else say('ok', `packages: all ${HOST_PACKAGES.length} installed`);

  await kvmDeviceAccess(context, say);
  await startDaemons(context, say);
  await ensurePool(context, say);
  await kvmProbe(context, say);
}

/**
 * One apt-get run as a step ("host  apt install  ✔ 41 s"): its output goes to .vmlab/logs/setup-<time>.log,
 * or to the terminal with VERBOSE=1; a failure shows the log's last lines and its path.
 */
async function aptStep(context: Context, label: string, args: string[], env: Record<string, string>): Promise<void> {
  if (context.ui.verbose || context.dryRun) {
    await context.runner.run('apt-get', args, { env, stdio: 'inherit' });
    return;
  }
  const log = await JobLog.open(path.join(context.home, 'logs', `setup-${new Date().toISOString().replace(/[:.]/g, '-')}.log`));
  const board = await StepBoard.open(context.ui, context.home, { action: 'setup', names: ['host'] });
  const steps = board.machine('host');
  const tail: string[] = [];
  steps.begin(label);
  try {
    const result = await context.runner.run('apt-get', args, {
      env,
      check: false,
      onLine: (line) => {
        log.line(line);
        tail.push(line);
        if (tail.length > FAILURE_TAIL) tail.shift();
      },
    });
    if (result.exitCode !== 0) {
      steps.fail();
      throw new CommandError(['apt-get', ...args], result.exitCode, tail.join('\n'), `Its full log: ${log.file}`);
    }
    steps.finish();
  } finally {
    await log.close();
    await board.close(context.home);
  }
}

async function missingPackages(context: Context): Promise<string[]> {
  const names = HOST_PACKAGES.map((pkg) => pkg.name);
  const result = await context.runner.run('dpkg-query', ['-W', '-f', '${Package} ${db:Status-Status}\n', ...names], {
    readOnly: true,
    check: false,
  }).catch(() => ({ stdout: '' }));
  return parseMissingPackages(result.stdout, names);
}

/** Without udev /dev/kvm is root-only, and QEMU (run by libvirt as libvirt-qemu, group kvm) cannot open it. */
async function kvmDeviceAccess(context: Context, say: (status: 'ok' | 'done', text: string) => void): Promise<void> {
  const device = await stat('/dev/kvm').catch(() => undefined);
  if (!device) return say('ok', '/dev/kvm: absent (VMs use software emulation)');
  if ((device.mode & 0o060) === 0o060) return say('ok', '/dev/kvm: group read/write');
  await context.runner.run('chgrp', ['kvm', '/dev/kvm']);
  await context.runner.run('chmod', ['0660', '/dev/kvm']);
  say('done', '/dev/kvm: root:kvm 0660 (no udev rule had set it)');
}

async function libvirtAnswers(context: Context): Promise<boolean> {
  const result = await context.runner.run('virsh', ['-c', context.libvirtUri, 'version'], { readOnly: true, check: false });
  return result.exitCode === 0;
}

export async function startDaemons(context: Context, say: (status: 'ok' | 'done', text: string) => void): Promise<void> {
  if (await libvirtAnswers(context)) return say('ok', 'libvirtd: answering');
  const systemd = await access('/run/systemd/system').then(
    () => true,
    () => false,
  );
  if (systemd) {
    await context.runner.run('systemctl', ['start', 'virtlogd.socket', 'libvirtd.socket', 'libvirtd.service']);
  } else {
    // No init system manages them here: start them ourselves, once. Running daemons are never touched.
    for (const daemon of ['virtlogd', 'libvirtd']) if (!(await running(context, daemon))) await startDaemon(context, daemon);
  }
  if (context.dryRun) return;
  for (let attempt = 0; attempt < 40; attempt++) {
    if (await libvirtAnswers(context)) return say('done', `libvirtd: started${systemd ? ' (systemd)' : ' (no systemd: started as a daemon)'}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  throw new UserError('libvirtd was started but does not answer', 'See /var/log/libvirt/libvirtd.log, then retry: make setup');
}

/**
 * Through start-stop-daemon where the host has it (dpkg's): it closes every file descriptor the daemon
 * would otherwise inherit from whoever ran make setup (a lock a test runner or a shell holds, a pipe a
 * caller waits on) and starts it in /, so that no checkout's folder or lock is pinned by libvirtd.
 */
async function startDaemon(context: Context, daemon: string): Promise<void> {
  const [launcher, executable] = await Promise.all([findOnPath('start-stop-daemon', context.env), findOnPath(daemon, context.env)]);
  if (!launcher || !executable) {
    await context.runner.run(daemon, ['--daemon']);
    return;
  }
  await context.runner.run(launcher, ['--start', '--oknodo', '--background', '--exec', executable, '--', '--daemon']);
}

async function running(context: Context, program: string): Promise<boolean> {
  const result = await context.runner.run('pgrep', ['-x', program], { readOnly: true, check: false });
  return result.exitCode === 0;
}

async function ensurePool(context: Context, say: (status: 'ok' | 'done', text: string) => void): Promise<void> {
  const virsh = (args: string[]) => context.runner.run('virsh', ['-c', context.libvirtUri, ...args]);
  const info = await context.runner.run('virsh', ['-c', context.libvirtUri, 'pool-info', context.pool], { readOnly: true, check: false });
  if (info.exitCode !== 0) {
    await virsh(['pool-define-as', context.pool, 'dir', '--target', '/var/lib/libvirt/images']);
    await virsh(['pool-build', context.pool]);
    await virsh(['pool-start', context.pool]);
    await virsh(['pool-autostart', context.pool]);
    return say('done', `storage pool ${context.pool}: created at /var/lib/libvirt/images`);
  }
  if (/State:\s+running/.test(info.stdout)) return say('ok', `storage pool ${context.pool}: active`);
  await virsh(['pool-start', context.pool]);
  say('done', `storage pool ${context.pool}: started`);
}

async function kvmProbe(context: Context, say: (status: 'ok' | 'done', text: string) => void): Promise<void> {
  const known = await readProbe(context.home);
  if (known) return say('ok', `KVM probe: ${known.works ? 'KVM works' : `KVM unusable (${known.detail}); VMs use software emulation`}`);
  const base = await new Registry(context.home).get('debian-12').catch(() => undefined);
  if (!base) return say('ok', 'KVM probe: waits for the base image (built by the first make create-*)');
  if (context.dryRun) return;
  const probe = await probeKvm(context, new Registry(context.home).boxFile(base));
  say('done', `KVM probe: ${probe.works ? 'KVM works' : `KVM unusable (${probe.detail}); VMs use software emulation`}`);
}
