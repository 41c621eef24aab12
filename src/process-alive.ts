import { readFileSync } from 'node:fs';

/**
 * Whether a process still runs. Signal 0 checks without sending anything (EPERM: it exists, as another
 * user). A zombie, killed but not yet reaped by its parent (a detached worker's parent may be an init
 * that never reaps), counts as gone.
 */
export function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return true;
  }
}
