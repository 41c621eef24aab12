import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Context } from '../context.js';
import type { KvmProbeResult } from './driver.js';
import { probeFile } from './driver.js';

const PROBE_SECONDS = 30;

/**
 * Does KVM really work? /dev/kvm existing is not enough: on some hosts (nested or paravirtual KVM)
 * a BIOS boot stops in the boot loader with "KVM internal error. Suberror: 1 ... emulation failure"
 * and the guest sits paused. So boot the base image under KVM (a throwaway snapshot: nothing is
 * written) and watch its serial console until the kernel speaks or KVM fails.
 */
export function judgeProbe(output: string, timedOut: boolean): { works: boolean; detail: string } | undefined {
  const internal = /KVM internal error[^\n]*/.exec(output);
  if (internal) return { works: false, detail: internal[0].trim() };
  if (/Linux version/.test(output)) return { works: true, detail: 'the kernel booted under KVM' };
  const failure = output.split('\n').find((line) => /^qemu-system[^:]*:.*(kvm|error|failed)/i.test(line));
  if (failure) return { works: false, detail: failure.trim() };
  if (timedOut) return { works: false, detail: `no kernel output within ${PROBE_SECONDS} s under KVM` };
  return undefined;
}

export async function probeKvm(context: Context, boxFile: string): Promise<KvmProbeResult> {
  await mkdir(context.home, { recursive: true });
  const dir = await mkdtemp(path.join(context.home, 'kvm-probe-'));
  try {
    await context.runner.run('tar', ['-xf', boxFile, '-C', dir, 'box.img'], { readOnly: true });
    const stop = new AbortController();
    let seen = '';
    const result = await context.runner.run(
      'qemu-system-x86_64',
      [
        ...['-accel', 'kvm', '-machine', 'pc', '-cpu', 'host', '-m', '512', '-smp', '1'],
        ...['-nodefaults', '-display', 'none', '-monitor', 'none', '-no-reboot', '-snapshot', '-serial', 'stdio'],
        ...['-drive', `file=${path.join(dir, 'box.img')},if=virtio,format=qcow2`],
      ],
      {
        readOnly: true,
        check: false,
        timeoutMs: PROBE_SECONDS * 1000,
        signal: stop.signal,
        onLine: (line) => {
          seen += `${line}\n`;
          if (judgeProbe(seen, false)) stop.abort();
        },
      },
    );
    const judged = judgeProbe(`${seen}${result.stdout}\n${result.stderr}`, Boolean(result.timedOut)) ?? {
      works: false,
      detail: `qemu exited (${result.exitCode}) before the kernel started`,
    };
    const probe: KvmProbeResult = { ...judged, probedAt: new Date().toISOString() };
    await mkdir(path.dirname(probeFile(context.home)), { recursive: true });
    await writeFile(probeFile(context.home), `${JSON.stringify(probe, null, 2)}\n`);
    return probe;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
