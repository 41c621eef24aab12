import { constants } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import path from 'node:path';
import { UserError } from './errors.js';
import { fileAccessError } from './file-error.js';

/**
 * VMLAB_HOME (the registry, the build queue, the logs) must be a folder vmlab can write. The default
 * (.vmlab/ in the checkout) is made on first use; a VMLAB_HOME the user set that does not exist is
 * most likely a typo, and one that cannot be written would fail half way through a build or a create.
 */
export interface HomeProblem {
  detail: string;
  fix: string;
  /** The folder does not exist (the only problem a command that makes it may go past). */
  missing: boolean;
}

export async function homeProblem(home: string, explicit: boolean): Promise<HomeProblem | undefined> {
  const where = explicit ? `VMLAB_HOME=${home}` : `VMLAB_HOME (${home})`;
  let info;
  try {
    info = await stat(home);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
      if (!explicit) return undefined;
      return { missing: true, detail: `${where} does not exist`, fix: `Check the path (a typo?); mkdir -p ${home} makes an empty registry there, or unset VMLAB_HOME to use the checkout's .vmlab/` };
    }
    const problem = fileAccessError(error, { what: where, verb: 'read' });
    return { missing: false, detail: problem?.message ?? `${where}: ${(error as Error).message}`, fix: problem?.hint ?? 'Point VMLAB_HOME at a folder this user can write' };
  }
  if (!info.isDirectory()) return { missing: false, detail: `${where} is a file, not a folder`, fix: 'Point VMLAB_HOME at a folder (or move the file away)' };
  try {
    await access(home, constants.W_OK | constants.X_OK);
  } catch (error) {
    const why = (error as NodeJS.ErrnoException).code === 'EROFS' ? 'it is on a read-only file system' : 'this user may not write to it';
    return { missing: false, detail: `${where} cannot be written: ${why}`, fix: `Run vmlab as the user that owns it (ls -ld ${home}), or point VMLAB_HOME at a folder this user can write` };
  }
  // Its folders, checked before anything starts: a file named logs would otherwise fail a create half way.
  for (const name of HOME_FOLDERS) {
    const folder = path.join(home, name);
    const kind = await stat(folder).then((entry) => (entry.isDirectory() ? 'folder' : 'file'), () => 'none');
    if (kind === 'file') return { missing: false, detail: `${folder} is a file where vmlab keeps a folder (${name}/)`, fix: `Move it away (mv ${folder} ${folder}.moved), then retry` };
  }
  return undefined;
}

/** The folders vmlab keeps under VMLAB_HOME: registry, build queue, logs, work folders, host facts. */
const HOME_FOLDERS = ['images', 'queue', 'logs', 'tmp', 'host'];

/** Commands that only read the registry or the queue: a VMLAB_HOME that does not exist holds nothing to read. */
const READS_HOME = new Set(['images', 'images-verify', 'gc', 'queue', 'queue-log', 'queue-cancel', 'image-rm']);
/** Commands that do not use VMLAB_HOME, or report on it themselves (doctor). */
const IGNORES_HOME = new Set(['doctor', 'roles', 'render', 'help', 'completion']);

/** Before a command runs: refuse a VMLAB_HOME it cannot use, naming the real problem. */
export async function requireHome(command: string, home: string, explicit: boolean, note: (text: string) => void): Promise<void> {
  if (IGNORES_HOME.has(command)) return;
  const problem = await homeProblem(home, explicit);
  if (!problem) return;
  if (problem.missing && !READS_HOME.has(command)) {
    note(`${problem.detail} yet: vmlab makes a new, empty registry there when it first needs one`);
    return;
  }
  throw new UserError(`${problem.detail}. Nothing was changed.`, problem.fix);
}
