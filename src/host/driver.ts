import { constants } from 'node:fs';
import { access, readFile } from 'node:fs/promises';
import path from 'node:path';
import { UserError } from '../errors.js';
import { DRIVERS, type DriverChoice } from '../lab/lab-schema.js';

export type Driver = 'kvm' | 'qemu';

export interface DriverDecision {
  driver: Driver;
  /** Why, in words a user understands; shown by doctor and list. */
  reason: string;
}

/** What the KVM probe found last time (written by `vmlab doctor` / `vmlab setup`). */
export interface KvmProbeResult {
  works: boolean;
  detail: string;
  probedAt: string;
}

export function probeFile(home: string): string {
  return path.join(home, 'host', 'kvm-probe.json');
}

export async function readProbe(home: string): Promise<KvmProbeResult | undefined> {
  try {
    return JSON.parse(await readFile(probeFile(home), 'utf8')) as KvmProbeResult;
  } catch {
    return undefined;
  }
}

/** Pure: the forced choice wins, then the probe, then the safe default (software emulation). */
export function decideDriver(choice: DriverChoice, probe: KvmProbeResult | undefined, kvmDevice: boolean): DriverDecision {
  if (choice === 'kvm') return { driver: 'kvm', reason: 'forced (DRIVER=kvm or driver: kvm in lab.yaml)' };
  if (choice === 'qemu') return { driver: 'qemu', reason: 'forced (DRIVER=qemu or driver: qemu in lab.yaml)' };
  if (!kvmDevice) return { driver: 'qemu', reason: 'software emulation: /dev/kvm is missing or not accessible' };
  if (!probe) return { driver: 'qemu', reason: 'software emulation: KVM not probed yet (the first make create-* probes it)' };
  if (probe.works) return { driver: 'kvm', reason: `KVM works (probed ${probe.probedAt})` };
  return { driver: 'qemu', reason: `software emulation: /dev/kvm exists but a test boot failed (${probe.detail})` };
}

export function parseDriverChoice(value: string | undefined, fallback: DriverChoice): DriverChoice {
  if (value === undefined || value === '') return fallback;
  if ((DRIVERS as readonly string[]).includes(value)) return value as DriverChoice;
  throw new UserError(`unknown DRIVER ${JSON.stringify(value)}`, `Use one of: ${DRIVERS.join(', ')}`, 2);
}

/** DRIVER=: the make targets pass it as VMLAB_DRIVER (unexpanded); the CLI on its own reads DRIVER. */
export function driverFromEnv(env: NodeJS.ProcessEnv): string | undefined {
  return env.VMLAB_DRIVER || env.DRIVER;
}

export async function kvmDeviceUsable(device = '/dev/kvm'): Promise<boolean> {
  return access(device, constants.R_OK | constants.W_OK).then(
    () => true,
    () => false,
  );
}
