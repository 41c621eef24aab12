import { existsSync } from 'node:fs';
import { lstat, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { expect } from 'vitest';
import { type Call, REPO, type Sandbox } from './fakes.js';

/**
 * Helpers for the bad-input and security tests (ring 2): what a refusal must leave as it was, which tool
 * calls only read, and where a shell that ran a user's value would have left its mark.
 */

/** virsh subcommands that only read libvirt's state. */
export const READ_ONLY_VIRSH = new Set([
  'version', 'list', 'dominfo', 'domstats', 'domstate', 'domifaddr', 'domblklist', 'pool-dumpxml', 'pool-info',
  'vol-list', 'net-list', 'net-info', 'net-dumpxml', 'snapshot-list',
]);

/** The calls that could have changed something: unplanned ones, every vagrant or qemu-img call, virsh writes. */
export function changingCalls(calls: Call[]): Call[] {
  return calls.filter((call) => {
    if (call.unplanned || call.tool !== 'virsh') return true;
    const subcommand = call.args[0] === '-c' ? call.args[2] : call.args[0];
    return !READ_ONLY_VIRSH.has(subcommand ?? '');
  });
}

/** Every file under dir (symlinks not followed), by path relative to dir. */
export async function filesUnder(dir: string): Promise<string[]> {
  const found: string[] = [];
  for (const name of await readdir(dir, { recursive: true }).catch(() => [] as string[])) {
    const stats = await lstat(path.join(dir, name)).catch(() => undefined);
    if (stats?.isFile()) found.push(name);
  }
  return found.sort();
}

/** The files of a folder with their text: the build queue's jobs, say. */
export async function readTree(dir: string): Promise<Record<string, string>> {
  const tree: Record<string, string> = {};
  for (const name of await filesUnder(dir)) tree[name] = await readFile(path.join(dir, name), 'utf8');
  return tree;
}

/**
 * What a refusal must leave as it was: lab.yaml, the Vagrantfile and the registry (sandbox.snapshot(), which
 * skips VMLAB_HOME's queue/ and logs/), and the build queue's folder, compared on its own.
 */
export async function labState(sandbox: Sandbox): Promise<{ files: Record<string, string | undefined>; queue: Record<string, string> }> {
  return { files: await sandbox.snapshot(), queue: await readTree(path.join(sandbox.home, 'queue')) };
}

/** An empty build queue (queue.json), so that a refusal that enqueued a build shows up in labState. */
export async function seedQueue(sandbox: Sandbox): Promise<void> {
  await mkdir(path.join(sandbox.home, 'queue'), { recursive: true });
  await writeFile(path.join(sandbox.home, 'queue', 'queue.json'), `${JSON.stringify({ version: 1, jobs: [] }, null, 2)}\n`);
}

/** make exits 2 when a recipe fails and names the CLI's own exit code in its "Error N" line. */
export function expectMakeFailure(result: { exitCode?: number; stderr: string }, code: number): void {
  expect(result.exitCode, result.stderr).toBe(2);
  expect(result.stderr).toMatch(new RegExp(`\\] Error ${code}$`, 'm'));
}

/** Files named PWNED where a shell that ran a value would have made one: the repository, the sandbox, the cwd. */
export async function pwnedFiles(sandbox: Sandbox): Promise<string[]> {
  const direct = [REPO, process.cwd(), sandbox.root, sandbox.labDir, sandbox.home].map((dir) => path.join(dir, 'PWNED')).filter((file) => existsSync(file));
  const nested = (await filesUnder(sandbox.root)).filter((name) => path.basename(name) === 'PWNED').map((name) => path.join(sandbox.root, name));
  return [...new Set([...direct, ...nested])];
}

/** Give the registry a custom image (as an export would), standing on parent. */
export async function addCustomImage(sandbox: Sandbox, name: string, parent: string): Promise<void> {
  const file = path.join(sandbox.home, 'images/index.json');
  const index = JSON.parse(await readFile(file, 'utf8'));
  index.images[name] = { ...index.images.docker, name, kind: 'custom', parent, source: 'export of web', file: `${name}.box`, box: `vmlab/${name}` };
  await writeFile(file, JSON.stringify(index, null, 2));
}
