import { setTimeout as sleep } from 'node:timers/promises';
import { domtimeArgs, parseDomtime } from '../adapters/guest-time.js';
import type { Virsh } from '../adapters/virsh.js';
import type { Context } from '../context.js';

/** A guest clock this far from the host's after it was set is still wrong (setting it takes well under a second). */
export const CLOCK_TOLERANCE_SECONDS = 10;
const ATTEMPTS = 5;
const RETRY_MS = 1000;

/**
 * After a running VM is reverted to a snapshot its clock is the snapshot's: minutes or days behind, and
 * systemd-timesyncd only slews it slowly (its NTP check passes meanwhile). Set it from the host through
 * the guest agent (which may need a moment to answer after the revert), then read it back and compare.
 * A clock that could not be set or is still off is a warning with the fix, not a failed restore.
 */
export async function setGuestClock(context: Context, virsh: Virsh, machine: string, domain: string, now = () => Date.now() / 1000): Promise<void> {
  let set = await virsh.tryChange(domtimeArgs.setNow(domain));
  if (context.dryRun) return;
  for (let attempt = 2; set.exitCode !== 0 && attempt <= ATTEMPTS; attempt++) {
    await sleep(RETRY_MS);
    set = await virsh.tryChange(domtimeArgs.setNow(domain));
  }
  const fix = `virsh -c ${context.libvirtUri} domtime ${domain} --now, or make ssh NAME=${machine} CMD='sudo systemctl restart systemd-timesyncd' (it steps the clock at start)`;
  if (set.exitCode !== 0) {
    const why = set.stderr.trim().split('\n').at(-1)?.replace(/^error:\s*/, '') || `virsh exited with ${set.exitCode}`;
    context.ui.warn(`${machine}: could not set the clock after the restore (guest agent: ${why}); it keeps the snapshot's time. Fix: ${fix}`);
    return;
  }
  const read = await virsh.query(domtimeArgs.read(domain), false);
  const guest = parseDomtime(read.stdout);
  if (guest === undefined) {
    context.ui.warn(`${machine}: clock set after the restore, but reading it back failed (${read.stderr.trim() || 'no time in the answer'}); check it: make ssh NAME=${machine} CMD=date`);
    return;
  }
  const off = Math.round(guest - now());
  if (Math.abs(off) > CLOCK_TOLERANCE_SECONDS) {
    context.ui.warn(`${machine}: the clock is still ${Math.abs(off)} s ${off < 0 ? 'behind' : 'ahead of'} the host's after the restore. Fix: ${fix}`);
    return;
  }
  context.ui.info(`${machine}: clock set to the host's time (${off === 0 ? 'in step' : `${Math.abs(off)} s off`})`);
}
