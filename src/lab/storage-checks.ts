import { stat } from 'node:fs/promises';
import path from 'node:path';
import { ConfigError, type ConfigIssue } from '../errors.js';
import { LOCAL_HOST, machineHost } from './hosts.js';
import type { LabFile } from './lab-file.js';

/**
 * Each machine's shared folders must exist on the host as folders before anything runs: vagrant-libvirt
 * would otherwise fail half way through a boot (or libvirt would refuse the domain), after the VM changed.
 */
export async function checkFolders(labFile: LabFile): Promise<void> {
  const issues: ConfigIssue[] = [];
  let missing = false;
  for (const [name, machine] of Object.entries(labFile.lab.machines)) {
    // virtiofs and 9p share a folder of the machine QEMU runs on: on another libvirt host, not this one's.
    const runsOn = machineHost(labFile.lab, name);
    if (runsOn !== LOCAL_HOST && Object.keys(machine.folders ?? {}).length) {
      const message = `${name} runs on host ${runsOn}: shared folders come from the host QEMU runs on, so this machine's folders cannot be shared with it (copy files with make cp, or put ${name} on host local)`;
      issues.push({ path: `machines.${name}.folders`, message, ...labFile.position(['machines', name, 'folders']) });
      continue;
    }
    for (const [host, guest] of Object.entries(machine.folders ?? {})) {
      const folder = path.resolve(path.dirname(labFile.file), host);
      const kind = await stat(folder).then((info) => (info.isDirectory() ? 'folder' : 'file'), () => 'missing');
      if (kind === 'folder') continue;
      missing = true;
      const message = kind === 'missing' ? `no such folder ${folder} (to share as ${guest})` : `${folder} is a file, not a folder (to share as ${guest})`;
      issues.push({ path: `machines.${name}.folders`, message, ...labFile.position(['machines', name, 'folders', host]) });
    }
  }
  if (issues.length && !missing) throw new ConfigError(labFile.displayName, issues, 'Nothing was changed. Remove folders: from the machine, or take host: off it.');
  if (issues.length) throw new ConfigError(labFile.displayName, issues, `Make the folder first (mkdir -p ${path.dirname(labFile.file)}/<folder>); paths in folders: are relative to lab.yaml's folder.`);
}
