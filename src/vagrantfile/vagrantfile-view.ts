import path from 'node:path';
import type { ResolvedMachine } from '../lab/resolve-machines.js';

/** Everything the template needs, already decided: the template holds no logic. */
export interface VagrantfileView {
  labFile: string;
  machines: MachineView[];
}

export interface MachineView {
  name: string;
  box: string;
  driver: 'kvm' | 'qemu';
  domainPrefix: string;
  cpus: number;
  memory: number;
  disk: number;
  bootTimeout: number;
  network: { name: string; address: string };
  /** Uploaded before the features when there are any (see scripts/features/lib/common.sh). */
  featureLib: { source: string; destination: string } | null;
  provisioners: { name: string; path: string; env: { key: string; value: string }[] }[];
}

export interface ViewOptions {
  labFile: string;
  driver: 'kvm' | 'qemu';
  /** Provision script paths are written relative to this folder (the Vagrantfile's). */
  labDir: string;
}

const FEATURE_LIB_IN_GUEST = '/tmp/vmlab-feature-lib.sh';

function featureLibrary(featureScript: string): string {
  return path.join(path.dirname(featureScript), 'lib', 'common.sh');
}

function relativeTo(dir: string, file: string): string {
  return path.relative(dir, file) || file;
}

export const MANAGEMENT_NETWORK = { name: 'vmlab-mgmt', address: '192.168.123.0/24' };

export function buildVagrantfileView(machines: ResolvedMachine[], options: ViewOptions): VagrantfileView {
  return {
    labFile: options.labFile,
    machines: machines.map((machine) => ({
      name: machine.name,
      box: machine.box,
      driver: options.driver,
      domainPrefix: machine.domainPrefix,
      cpus: machine.cpus,
      memory: machine.memory,
      disk: machine.disk,
      // Software emulation boots several times slower than KVM.
      bootTimeout: options.driver === 'qemu' ? 900 : 300,
      network: MANAGEMENT_NETWORK,
      featureLib: machine.provision.length
        ? { source: relativeTo(options.labDir, featureLibrary(machine.provision[0]!.script)), destination: FEATURE_LIB_IN_GUEST }
        : null,
      provisioners: machine.provision.map((feature) => ({
        name: `feature-${feature.name}`,
        path: relativeTo(options.labDir, feature.script),
        env: [
          { key: 'VMLAB_FEATURE_LIB', value: FEATURE_LIB_IN_GUEST },
          ...Object.entries(machine.settings)
            .sort(([a], [b]) => a.localeCompare(b))
            .map(([key, value]) => ({ key: `VMLAB_${key.toUpperCase()}`, value })),
        ],
      })),
    })),
  };
}
