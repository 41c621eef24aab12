import { setTimeout as sleep } from 'node:timers/promises';
import { Virsh, type DomainReading } from '../adapters/virsh.js';
import type { Context } from '../context.js';

/**
 * vagrant-libvirt does not notice when the domain it brings up stops making progress. A guest that
 * libvirt paused (QEMU pauses a guest on a disk I/O error, such as a full disk under the pool; a KVM
 * emulation failure leaves it paused too) or that crashed or stopped leaves `vagrant up` waiting for a
 * DHCP lease for about 15 minutes, whatever boot_timeout says, and then it fails without saying why.
 *
 * So while vagrant brings a machine up, vmlab reads the domain's state every few seconds and, once
 * the domain has stayed paused, crashed or stopped (after it ran) for several readings in a row, stops
 * vagrant and reports libvirt's reason. What becomes of the domain is the caller's decision: converge
 * (commands/up.ts) removes a new VM that stalled in its first boot and leaves an existing one as it is.
 */

export const BOOT_POLL_MS = 2000;
/** Readings in a row that make a pause a stall (a pause while QEMU starts up lasts far less). */
const PAUSED_READINGS = 3;
/** Readings in a row of "shut off" after the domain ran (vagrant-libvirt never stops it during up). */
const STOPPED_READINGS = 2;

export interface Stall {
  state: string;
  reason: string;
  /** For people: what happened, e.g. "libvirt paused the VM (I/O error): a disk write failed, ...". */
  message: string;
}

/** Whether the readings so far (oldest first; undefined: no domain yet, or virsh did not answer) show a stall. */
export function stalled(readings: readonly (DomainReading | undefined)[]): Stall | undefined {
  const last = readings.at(-1);
  if (!last) return undefined;
  const tail = (count: number) => readings.length >= count && readings.slice(-count).every((reading) => reading?.state === last.state);
  if (last.state === 'paused' && last.reason !== 'starting up' && tail(PAUSED_READINGS)) {
    // virsh says "I/O error" (libvirt's reason ioerror): QEMU stops a guest whose disk write failed.
    const why = /I\/O error|ioerror/i.test(last.reason) ? ': a disk write failed, most often because the disk under the storage pool is full' : '';
    return { ...last, message: `libvirt paused the VM (${last.reason})${why}` };
  }
  if (last.state === 'crashed') return { ...last, message: `the VM crashed (${last.reason})` };
  const ran = readings.some((reading) => reading?.state === 'running');
  if (last.state === 'shut off' && ran && tail(STOPPED_READINGS)) return { ...last, message: `the VM stopped while it was coming up (${last.reason})` };
  return undefined;
}

export interface BootWatch {
  /** Aborted when the domain stalls: give it to the runner to stop vagrant. */
  signal: AbortSignal;
  /** The stall that stopped vagrant, if any. */
  stall(): Stall | undefined;
  /** Ends the watch (vagrant has exited). */
  stop(): void;
}

export function watchBoot(context: Context, domain: string, pollMs = BOOT_POLL_MS): BootWatch {
  const virsh = new Virsh(context.runner, context.libvirtUri);
  const abortVagrant = new AbortController();
  const stopWatching = new AbortController();
  const readings: (DomainReading | undefined)[] = [];
  let found: Stall | undefined;
  void (async () => {
    while (!stopWatching.signal.aborted) {
      try {
        await sleep(pollMs, undefined, { signal: stopWatching.signal });
      } catch {
        return;
      }
      readings.push(await virsh.domainReading(domain).catch(() => undefined));
      found = stalled(readings);
      if (found) {
        abortVagrant.abort();
        return;
      }
    }
  })();
  return {
    signal: abortVagrant.signal,
    stall: () => found,
    stop: () => stopWatching.abort(),
  };
}
