import type { Context } from '../context.js';
import { uriHost } from '../lab/hosts.js';
import type { Check } from './doctor.js';
import { parsePoolXml } from './host-figures.js';
import { REMOTE_TIMEOUT_MS, sshFailureFix } from './remote-hosts.js';

const MIN_FREE_GIB = 10;

/**
 * make doctor HOST=..: a remote libvirt host's prerequisites, read through its URI only (vmlab has no
 * shell there), each with the command that fixes it, run on that host (or through its URI from here).
 */
export async function runRemoteChecks(context: Context): Promise<Check[]> {
  const uri = context.libvirtUri;
  const there = `ssh ${uriHost(uri).replace(/:(\d+)$/, ' -p $1')}`;
  const virsh = (args: string[]) => context.runner.run('virsh', ['-c', uri, ...args], { readOnly: true, check: false, timeoutMs: REMOTE_TIMEOUT_MS });
  const version = await virsh(['version']);
  if (version.exitCode !== 0) {
    const why = version.timedOut ? `no answer within ${REMOTE_TIMEOUT_MS / 1000} s` : (version.stderr.trim().split('\n').at(-1) ?? '').replace(/^error:\s*/, '');
    return [{ check: `libvirtd on ${context.host}`, ok: false, detail: `not reachable at ${uri}: ${why}`, fix: sshFailureFix(uri, version.stderr, context.host) }];
  }
  const libvirt = /Running against daemon: ([\d.]+)|Using library: libvirt ([\d.]+)/.exec(version.stdout);
  const [pool, kvm, networks] = await Promise.all([virsh(['pool-dumpxml', context.pool]), virsh(['domcapabilities', '--virttype', 'kvm']), virsh(['net-list', '--all', '--name'])]);
  const checks: Check[] = [{ check: `libvirtd on ${context.host}`, ok: true, detail: `answering at ${uri}${libvirt ? ` (libvirt ${libvirt[1] ?? libvirt[2]})` : ''}` }];
  const { path: poolPath, availableBytes } = parsePoolXml(pool.stdout);
  if (pool.exitCode !== 0 || !poolPath) {
    checks.push({
      check: `pool ${context.pool}`,
      ok: false,
      detail: 'missing on that host',
      fix: `virsh -c '${uri}' pool-define-as ${context.pool} dir --target /var/lib/libvirt/images && virsh -c '${uri}' pool-build ${context.pool} && virsh -c '${uri}' pool-start ${context.pool} && virsh -c '${uri}' pool-autostart ${context.pool}`,
    });
  } else {
    const free = Math.floor((availableBytes ?? 0) / 2 ** 30);
    checks.push({ check: `pool ${context.pool}`, ok: true, detail: poolPath });
    checks.push(
      free >= MIN_FREE_GIB
        ? { check: 'free disk (pool)', ok: true, detail: `${free} GiB free in ${poolPath}` }
        : { check: 'free disk (pool)', ok: false, detail: `only ${free} GiB free in ${poolPath}`, fix: `free at least ${MIN_FREE_GIB} GiB there (${there} df -h ${poolPath})` },
    );
  }
  checks.push(
    kvm.exitCode === 0
      ? { check: 'kvm', ok: true, detail: "that host's libvirt offers KVM" }
      : { check: 'kvm', ok: true, warn: true, detail: 'no KVM there: VMs would run under software emulation (several times slower)', fix: `${there} 'ls -l /dev/kvm; sudo adduser $USER kvm' (and enable virtualisation in its firmware)` },
  );
  checks.push(
    networks.stdout.split('\n').includes('vmlab-mgmt')
      ? { check: 'management network', ok: true, detail: 'vmlab-mgmt exists there' }
      : { check: 'management network', ok: true, detail: 'vmlab-mgmt is made there by the first VM; it needs dnsmasq-base and iptables on that host', fix: `${there} sudo apt-get install dnsmasq-base iptables` },
  );
  return checks;
}
