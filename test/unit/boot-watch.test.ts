import { describe, expect, it } from 'vitest';
import { parseDomstateReason, type DomainReading } from '../../src/adapters/virsh.js';
import { stalled } from '../../src/lab/boot-watch.js';

const reading = (text: string): DomainReading => parseDomstateReason(`${text}\n`)!;
const readings = (...texts: (string | undefined)[]) => texts.map((text) => (text === undefined ? undefined : reading(text)));

describe('virsh domstate --reason', () => {
  it('splits the state from its reason, and copes with a state without one', () => {
    // As virsh prints them (seen on a real VM whose pool filled up in its first boot).
    expect(reading('paused (I/O error)')).toEqual({ state: 'paused', reason: 'I/O error' });
    expect(reading('shut off (crashed)')).toEqual({ state: 'shut off', reason: 'crashed' });
    expect(reading('running')).toEqual({ state: 'running', reason: '' });
    expect(parseDomstateReason('\n\n')).toBeUndefined();
  });
});

describe('a domain that stalls while vagrant brings it up', () => {
  it('a boot going its usual way is never a stall: no domain yet, created and off, starting up, running', () => {
    const usual = readings(undefined, undefined, 'shut off (unknown)', 'paused (starting up)', 'paused (starting up)', 'paused (starting up)', 'running (booted)', 'running (booted)');
    for (let end = 1; end <= usual.length; end += 1) expect(stalled(usual.slice(0, end))).toBeUndefined();
  });

  it('a pause is a stall once it lasts three readings, with libvirt reason and what an I/O error usually means', () => {
    expect(stalled(readings('running (booted)', 'paused (I/O error)', 'paused (I/O error)'))).toBeUndefined();
    expect(stalled(readings('running (booted)', 'paused (I/O error)', 'paused (I/O error)', 'paused (I/O error)'))).toEqual({
      state: 'paused',
      reason: 'I/O error',
      message: 'libvirt paused the VM (I/O error): a disk write failed, most often because the disk under the storage pool is full',
    });
    // KVM's emulation failure pauses the guest too; any reason but "starting up" counts.
    expect(stalled(readings('paused (unknown)', 'paused (unknown)', 'paused (unknown)'))?.message).toBe('libvirt paused the VM (unknown)');
    expect(stalled(readings('paused (user)', 'running (unpaused)', 'paused (user)', 'paused (user)'))).toBeUndefined();
  });

  it('a crash at once; a stop only after the domain ran, and for two readings', () => {
    expect(stalled(readings('running (booted)', 'crashed (panicked)'))?.message).toBe('the VM crashed (panicked)');
    expect(stalled(readings('shut off (unknown)', 'shut off (unknown)', 'shut off (unknown)'))).toBeUndefined();
    expect(stalled(readings('running (booted)', 'shut off (crashed)'))).toBeUndefined();
    expect(stalled(readings('running (booted)', 'shut off (crashed)', 'shut off (crashed)'))?.message).toBe('the VM stopped while it was coming up (crashed)');
  });
});
