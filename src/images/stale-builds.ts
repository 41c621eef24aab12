import { readdir, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import type { Context } from '../context.js';
import { isProcessAlive } from '../process-alive.js';

/*
 * A build killed outright (SIGKILL, power loss) runs no cleanup: its work folder, and possibly a mount
 * and a loop device of the base box builder, stay behind. Work folders are named build-<image>-<pid>,
 * export-<image>-<pid> or clone-<name>-<pid>; the next build or export clears those whose process is
 * gone, and so does `make gc`.
 */

/** The prefixes of the work folders of vmlab's jobs under VMLAB_HOME/tmp. */
export const WORK_FOLDER_PREFIXES = ['build', 'export', 'clone'] as const;

const WORK_FOLDER = new RegExp(`^(${WORK_FOLDER_PREFIXES.join('|')})-(.+)-(\\d+)$`);

/** build-debian-12-4242 -> { job: 'build', name: 'debian-12', pid: 4242 }; undefined for anything else. */
export function parseWorkFolder(entry: string): { job: (typeof WORK_FOLDER_PREFIXES)[number]; name: string; pid: number } | undefined {
  const match = WORK_FOLDER.exec(entry);
  const pid = Number(match?.[3]);
  if (!match?.[1] || !match[2] || !Number.isInteger(pid) || pid <= 0) return undefined;
  return { job: match[1] as (typeof WORK_FOLDER_PREFIXES)[number], name: match[2], pid };
}

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
    .map((entry) => ({ entry, pid: parseWorkFolder(entry)?.pid }))
    .filter(({ entry, pid }) => pid !== undefined && !alive(pid, path.join(tmpDir, entry)))
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

/** Whether the job that owns a work folder still runs: by its pid, or by any process naming the folder. */
export async function workAlive(): Promise<(pid: number, dir: string) => boolean> {
  const running = await commandLines();
  return (pid, dir) => isProcessAlive(pid) || running.some((line) => line.includes(dir));
}

/** The work folders under VMLAB_HOME/tmp whose job is gone, with what still holds them. */
export async function staleWork(context: Context): Promise<StaleWork[]> {
  const tmpDir = path.join(context.home, 'tmp');
  const entries = await readdir(tmpDir).catch(() => [] as string[]);
  if (!entries.some((entry) => parseWorkFolder(entry))) return [];
  const mounts = await readFile('/proc/mounts', 'utf8').catch(() => '');
  const loopList = await context.runner.run('losetup', ['--list', '--json', '--output', 'NAME,BACK-FILE'], { readOnly: true, check: false }).catch(() => ({ stdout: '' }));
  const loops = (JSON.parse(loopList.stdout || '{"loopdevices":[]}') as { loopdevices: { name: string; 'back-file': string | null }[] }).loopdevices;
  return findStaleWork(tmpDir, entries, await workAlive(), mounts, loops);
}

/** Unmount what a stale work folder holds, detach its loop devices, then remove it (not in a dry run). */
export async function clearStaleWork(context: Context, stale: StaleWork): Promise<void> {
  for (const mount of stale.mounts) {
    const result = await context.runner.run('umount', [mount], { check: false });
    if (result.exitCode !== 0) await context.runner.run('umount', ['-l', mount], { check: false });
  }
  for (const loop of stale.loops) await context.runner.run('losetup', ['-d', loop], { check: false });
  if (!context.dryRun) await rm(stale.dir, { recursive: true, force: true });
}

export async function cleanStaleBuilds(context: Context): Promise<void> {
  for (const stale of await staleWork(context)) {
    context.ui.info(`cleaning up after an interrupted build: ${stale.dir}`);
    await clearStaleWork(context, stale);
  }
}
