import { stat } from 'node:fs/promises';
import path from 'node:path';
import { ConfigError, type ConfigIssue } from '../errors.js';
import type { LabFile } from './lab-file.js';

/**
 * Each machine's shared folders must exist on the host as folders before anything runs: vagrant-libvirt
 * would otherwise fail half way through a boot (or libvirt would refuse the domain), after the VM changed.
 */
export async function checkFolders(labFile: LabFile): Promise<void> {
  const issues: ConfigIssue[] = [];
  for (const [name, machine] of Object.entries(labFile.lab.machines)) {
    for (const [host, guest] of Object.entries(machine.folders ?? {})) {
      const folder = path.resolve(path.dirname(labFile.file), host);
      const kind = await stat(folder).then((info) => (info.isDirectory() ? 'folder' : 'file'), () => 'missing');
      if (kind === 'folder') continue;
      const message = kind === 'missing' ? `no such folder ${folder} (to share as ${guest})` : `${folder} is a file, not a folder (to share as ${guest})`;
      issues.push({ path: `machines.${name}.folders`, message, ...labFile.position(['machines', name, 'folders', host]) });
    }
  }
  if (issues.length) throw new ConfigError(labFile.displayName, issues, `Make the folder first (mkdir -p ${path.dirname(labFile.file)}/<folder>); paths in folders: are relative to lab.yaml's folder.`);
}
