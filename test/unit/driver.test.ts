import { describe, expect, it } from 'vitest';
import { decideDriver, parseDriverChoice } from '../../src/host/driver.js';

const works = { works: true, detail: 'booted', probedAt: '2026-11-21T00:00:00Z' };
const fails = { works: false, detail: 'KVM internal error. Suberror: 1', probedAt: '2026-11-21T00:00:00Z' };

describe('driver decision', () => {
  it.each([
    ['auto', works, true, 'kvm', /KVM works/],
    ['auto', fails, true, 'qemu', /test boot failed \(KVM internal error/],
    ['auto', undefined, true, 'qemu', /not probed yet/],
    ['auto', works, false, 'qemu', /\/dev\/kvm is missing/],
    ['kvm', fails, false, 'kvm', /forced/],
    ['qemu', works, true, 'qemu', /forced/],
  ] as const)('%s with probe %j and device %s -> %s', (choice, probe, device, driver, reason) => {
    const decision = decideDriver(choice, probe, device);
    expect(decision.driver).toBe(driver);
    expect(decision.reason).toMatch(reason);
  });

  it('refuses an unknown DRIVER with the choices', () => {
    expect(() => parseDriverChoice('xen', 'auto')).toThrowError(/unknown DRIVER "xen"/);
    expect(parseDriverChoice('', 'qemu')).toBe('qemu');
  });
});
