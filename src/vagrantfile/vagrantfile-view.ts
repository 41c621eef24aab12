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
  /** Set under software emulation: a named CPU model instead of host-model. */
  cpuModel: string | null;
  domainPrefix: string;
  cpus: number;
  memory: number;
  disk: number;
  bootTimeout: number;
  network: { name: string; address: string };
  provisioners: { name: string; path: string; env: { key: string; value: string }[] }[];
}

export interface ViewOptions {
  labFile: string;
  driver: 'kvm' | 'qemu';
  /** Provision script paths are written relative to this folder (the Vagrantfile's). */
  labDir: string;
}

export const MANAGEMENT_NETWORK = { name: 'vmlab-mgmt', address: '192.168.123.0/24' };

export function buildVagrantfileView(machines: ResolvedMachine[], options: ViewOptions): VagrantfileView {
  return {
    labFile: options.labFile,
    machines: machines.map((machine) => ({
      name: machine.name,
      box: machine.box,
      driver: options.driver,
      cpuModel: options.driver === 'qemu' ? 'qemu64' : null,
      domainPrefix: machine.domainPrefix,
      cpus: machine.cpus,
      memory: machine.memory,
      disk: machine.disk,
      // Software emulation boots several times slower than KVM.
      bootTimeout: options.driver === 'qemu' ? 900 : 300,
      network: MANAGEMENT_NETWORK,
      provisioners: machine.provision.map((feature) => ({
        name: `feature-${feature.name}`,
        path: path.relative(options.labDir, feature.script) || feature.script,
        env: Object.entries(machine.settings)
          .sort(([a], [b]) => a.localeCompare(b))
          .map(([key, value]) => ({ key: `VMLAB_${key.toUpperCase()}`, value })),
      })),
    })),
  };
}
