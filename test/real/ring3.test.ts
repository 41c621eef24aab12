import { describe, expect, it } from 'vitest';
import { REAL_REQUIRED, realHostProblem } from '../support/real-host.js';
import { cloudImageSuite } from './cloud-image-suite.js';
import { exportSuite } from './export-suite.js';
import { labsSuite } from './labs-suite.js';
import { lifecycleSuite } from './lifecycle-suite.js';
import { portsSuite } from './ports-suite.js';
import { roleImageSuite } from './role-image-suite.js';
import { remoteHostSuite } from './remote-host-suite.js';
import { roleProofSuite } from './role-proof-suite.js';
import { storageSuite } from './storage-suite.js';

/**
 * Ring 3: real Vagrant + vagrant-libvirt + libvirtd + QEMU through the make targets. The suites share
 * one file so that they run one after the other: two real-VM suites side by side would fight over two cores.
 */
const problem = await realHostProblem();
if (problem) process.stderr.write(`\n*** real-VM tests skipped: ${problem}: run make setup (as root) ***\n\n`);

describe.runIf(REAL_REQUIRED && problem)('real-VM ring', () => {
  it('is required (VMLAB_REAL=required) but the host is not ready', () => {
    expect.fail(`real-VM tests required but ${problem}: run make setup`);
  });
});

describe.skipIf(Boolean(problem)).sequential('ring 3', () => {
  lifecycleSuite();
  roleImageSuite();
  roleProofSuite();
  exportSuite();
  labsSuite();
  cloudImageSuite();
  storageSuite();
  remoteHostSuite();
  portsSuite();
});
