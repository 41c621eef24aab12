import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { writeFileAtomic } from '../atomic-write.js';

/**
 * What vmlab keeps of this checkout's lab under VMLAB_HOME, apart from lab.yaml itself: the lab's name
 * and a copy of the last lab.yaml it wrote. A lab.yaml deleted or emptied while the lab's VMs run is then
 * noticed (its name says which libvirt domains are this lab's) and can be put back from the copy.
 */
export interface LastLab {
  name: string;
  /** The lab folder it belongs to: a VMLAB_HOME shared by two lab folders remembers the one that wrote last. */
  labDir: string;
  /** The copy of the last lab.yaml vmlab wrote. */
  copy: string;
}

export function lastLabPaths(home: string): { record: string; copy: string } {
  return { record: path.join(home, 'lab.json'), copy: path.join(home, 'lab.yaml.last') };
}

/** Remember the lab as written (only what changed is written). */
export async function rememberLab(home: string, labDir: string, name: string, text: string): Promise<void> {
  const { record, copy } = lastLabPaths(home);
  const recordText = `${JSON.stringify({ name, labDir }, null, 2)}\n`;
  await mkdir(home, { recursive: true });
  if ((await readFile(copy, 'utf8').catch(() => undefined)) !== text) await writeFileAtomic(copy, text);
  if ((await readFile(record, 'utf8').catch(() => undefined)) !== recordText) await writeFileAtomic(record, recordText);
}

/** The lab this folder had, if vmlab wrote one for it. */
export async function recallLab(home: string, labDir: string): Promise<LastLab | undefined> {
  const { record, copy } = lastLabPaths(home);
  try {
    const data = JSON.parse(await readFile(record, 'utf8')) as Partial<LastLab>;
    if (typeof data.name !== 'string' || data.labDir !== labDir) return undefined;
    return { name: data.name, labDir, copy };
  } catch {
    return undefined;
  }
}
