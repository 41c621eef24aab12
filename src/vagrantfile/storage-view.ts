import type { SharedFolderType } from '../host/shared-folders.js';
import type { ResolvedMachine } from '../lab/resolve-machines.js';
import type { MachineView, ProvisionerView } from './vagrantfile-view.js';

/** The provisioner that formats and mounts the data disks that have a mount: (scripts/lab/data-disks.sh). */
export const DATA_DISKS_PROVISIONER = 'vmlab-data-disks';

export function folderViews(machine: ResolvedMachine, type: SharedFolderType): Pick<MachineView, 'folders' | 'sharedMemory'> {
  const virtiofs = type === 'virtiofs';
  return {
    folders: (machine.folders ?? []).map((folder) => ({ ...folder, virtiofs })),
    sharedMemory: virtiofs && (machine.folders ?? []).length > 0,
  };
}

export function dataDiskViews(machine: ResolvedMachine): MachineView['dataDisks'] {
  return (machine.dataDisks ?? []).map((disk) => ({ size: `${disk.size}G`, serial: disk.serial }));
}

/** "vmlab-data-1=/data;vmlab-data-3=/srv/db": the disks to format and mount, by serial. */
export function dataDiskProvisioner(machine: ResolvedMachine, scriptPath: (file: string) => string): ProvisionerView[] {
  const mounted = (machine.dataDisks ?? []).filter((disk) => disk.mount);
  if (mounted.length === 0) return [];
  return [
    {
      name: DATA_DISKS_PROVISIONER,
      path: scriptPath('scripts/lab/data-disks.sh'),
      env: [{ key: 'VMLAB_DATA_DISKS', value: mounted.map((disk) => `${disk.serial}=${disk.mount}`).join(';'), variable: null }],
    },
  ];
}
