import { readdir, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import type { Context } from '../context.js';
import { isProcessAlive } from '../process-alive.js';

/*
 * A build killed outright (SIGKILL, power loss) runs no cleanup: its work folder, and possibly a mount
 * and a loop device of the base box builder, stay behind. Work folders are named build-<image>-<pid>;
 * the next build clears those whose process is gone.
 */

export interface StaleWork {
  dir: string;
  /** Mount points inside it, deepest first. */
  mounts: string[];
  /** Loop devices whose backing file is inside it. */
  loops: string[];
}

/** Pure: which work folders are stale and what holds them. */
export function findStaleWork(
  tmpDir: string,
  entries: string[],
  /** Whether the build that owns a folder (by its pid, or by any process naming the folder) still runs. */
  alive: (pid: number, dir: string) => boolean,
  mountsText: string,
  loops: { name: string; 'back-file': string | null }[],
): StaleWork[] {
  const mountPoints = mountsText
    .split('\n')
    .map((line) => line.split(' ')[1])
    .filter((point): point is string => Boolean(point))
    .map((point) => point.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8))));
  return entries
    .map((entry) => ({ entry, pid: Number(/^build-.+-(\d+)$/.exec(entry)?.[1]) }))
    .filter(({ entry, pid }) => Number.isInteger(pid) && pid > 0 && !alive(pid, path.join(tmpDir, entry)))
    .map(({ entry }) => {
      const dir = path.join(tmpDir, entry);
      const inside = (file: string) => file === dir || file.startsWith(`${dir}/`);
      return {
        dir,
        mounts: mountPoints.filter(inside).sort((a, b) => b.length - a.length),
        loops: loops.filter((loop) => loop['back-file'] && inside(loop['back-file'].replace(/ \(deleted\)$/, ''))).map((loop) => loop.name),
      };
    });
}

/**
 * SIGKILL on vmlab does not stop the builder it started (a separate process that goes on in the
 * folder), so a folder is also in use while any process names it on its command line.
 */
async function commandLines(): Promise<string[]> {
  const pids = (await readdir('/proc').catch(() => [] as string[])).filter((entry) => /^\d+$/.test(entry));
  const lines = await Promise.all(pids.map((pid) => readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '')));
  return lines.map((line) => line.replaceAll('\0', ' '));
}

export async function cleanStaleBuilds(context: Context): Promise<void> {
  const tmpDir = path.join(context.home, 'tmp');
  const entries = await readdir(tmpDir).catch(() => [] as string[]);
  if (!entries.some((entry) => entry.startsWith('build-'))) return;
  const mounts = await readFile('/proc/mounts', 'utf8').catch(() => '');
  const loopList = await context.runner.run('losetup', ['--list', '--json', '--output', 'NAME,BACK-FILE'], { readOnly: true, check: false }).catch(() => ({ stdout: '' }));
  const loops = (JSON.parse(loopList.stdout || '{"loopdevices":[]}') as { loopdevices: { name: string; 'back-file': string | null }[] }).loopdevices;
  const running = await commandLines();
  const alive = (pid: number, dir: string) => isProcessAlive(pid) || running.some((line) => line.includes(dir));
  for (const stale of findStaleWork(tmpDir, entries, alive, mounts, loops)) {
    context.ui.info(`cleaning up after an interrupted build: ${stale.dir}`);
    for (const mount of stale.mounts) {
      const result = await context.runner.run('umount', [mount], { check: false });
      if (result.exitCode !== 0) await context.runner.run('umount', ['-l', mount], { check: false });
    }
    for (const loop of stale.loops) await context.runner.run('losetup', ['-d', loop], { check: false });
    if (!context.dryRun) await rm(stale.dir, { recursive: true, force: true });
  }
}
