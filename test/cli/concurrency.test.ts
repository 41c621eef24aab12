import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { registryIndexSchema } from '../../src/images/registry-schema.js';
import { labSchema } from '../../src/lab/lab-schema.js';
import { queueFileSchema } from '../../src/queue/queue-schema.js';
import { installRoleBuilderFake, readIndex, readQueue, running, waitFor } from '../support/crash-kit.js';
import { hostReadings, libvirtUp, noDomains, type PlannedCall, REPO, Sandbox } from '../support/fakes.js';

/*
 * Concurrency (issue 7, item 2): several vmlab processes at once on one VMLAB_HOME and one lab. The builds run
 * through the real CLI, its real queue and its real detached worker; only the role-image builder script is a
 * stand-in (crash-kit.ts). Every fake call is planned with repeat, so any interleaving is answered.
 */

let sandbox: Sandbox;
let env: Record<string, string>;
const IMAGES = ['ra', 'rb', 'rc', 'rd'];

beforeEach(async () => {
  sandbox = await Sandbox.create();
  await sandbox.seedImages();
  await installRoleBuilderFake(sandbox);
  const defs = path.join(sandbox.root, 'defs');
  await mkdir(defs);
  for (const image of IMAGES) await writeFile(path.join(defs, `${image}.yaml`), `description: role image ${image}\nrole: observer\nparent: debian-12\n`);
  env = { VMLAB_IMAGES_DIR: defs, VMLAB_STATE_DIR: path.join(sandbox.root, 'state') };
});
afterEach(async () => {
  // A detached worker started by a BG=1 build may still be finishing: let it end before its files go.
  await waitForIdleQueue();
  await sandbox.cleanup();
});

/** Until no worker runs and every job is finished. */
async function waitForIdleQueue(): Promise<void> {
  const pidFile = path.join(sandbox.home, 'queue/worker.pid');
  await waitFor(
    'the queue to be idle',
    async () => {
      const pid = Number((await readFile(pidFile, 'utf8').catch(() => '')).trim());
      if (pid && running(pid)) return false;
      return (await readQueue(sandbox.home)).jobs.every((job) => ['done', 'failed', 'cancelled'].includes(job.state));
    },
    60_000,
    async () => readQueue(sandbox.home),
  );
}

/** The base role's three health checks, passing, for any machine. */
const baseHealthy: PlannedCall = {
  tool: 'vagrant',
  args: ['ssh', '*', '-c', '*'],
  stdout: [0, 1, 2].map((index) => `VMLAB-CHECK-OUT ${index} fine\nVMLAB-CHECK ${index} 0\n`).join(''),
  repeat: true,
};

// Building an image needs root (vmlab refuses otherwise, before the builder runs); the tests run as root.
describe('four vmlab processes at once', { skip: process.getuid?.() !== 0 }, () => {
  it('builds (BG=1 and foreground), images, queue, create and delete: no job lost or doubled, the registry and the queue valid', async () => {
    await sandbox.plan([
      libvirtUp,
      { ...noDomains, repeat: true },
      ...hostReadings,
      { tool: 'vagrant', args: ['up', '*', '--provider=libvirt'], repeat: true },
      baseHealthy,
      { tool: 'vagrant', args: ['destroy', '-f', '*'], repeat: true },
      { tool: 'vagrant', args: ['box', 'add', '--provider', 'libvirt', '*'], repeat: true },
    ]);
    // A little time per builder step, so that builds overlap with each other and with the other commands.
    await writeFile(path.join(sandbox.fakeDir, 'role-step-ms'), '100');
    type Command = { args: string[]; kind: 'bg' | 'fg' | 'images' | 'queue' | 'create' | 'delete'; image?: string; machine?: string };
    const bg = (image: string): Command => ({ args: ['build', `IMAGE=${image}`, 'BG=1', 'JSON=1'], kind: 'bg', image });
    const fg = (image: string): Command => ({ args: ['build', `IMAGE=${image}`], kind: 'fg', image });
    const create = (machine: string): Command => ({ args: ['create-base', `NAME=${machine}`], kind: 'create', machine });
    const remove = (machine: string): Command => ({ args: ['delete', `NAME=${machine}`, 'YES=1'], kind: 'delete', machine });
    const images: Command = { args: ['images', 'JSON=1'], kind: 'images' };
    const queue: Command = { args: ['queue', 'JSON=1'], kind: 'queue' };
    // Each round's four commands start together; two of them build the same image in some rounds, and
    // two or three change lab.yaml at once (creates and deletes of different machines).
    const rounds: Command[][] = [
      [bg('ra'), create('m1'), create('m2'), images],
      [bg('rb'), fg('rc'), create('m3'), remove('m1')],
      [fg('rb'), create('m4'), remove('m2'), queue],
      [bg('rd'), fg('rd'), create('m5'), remove('m4')],
      [fg('rc'), remove('m3'), create('m6'), create('m7')],
    ];

    const jobIds: string[] = [];
    const failures: string[] = [];
    for (const [index, round] of rounds.entries()) {
      const results = await Promise.all(round.map((command) => sandbox.make(command.args, env)));
      for (const [position, result] of results.entries()) {
        const command = round[position] as Command;
        const where = `round ${index + 1}: make ${command.args.join(' ')} (exit ${result.exitCode})\n${result.stderr}`;
        if (result.exitCode !== 0) {
          failures.push(where);
          continue;
        }
        // Every enqueue answers with its job (BG=1 JSON=1: the job; in the foreground: "job <id>: image .."),
        // unless the image was current already (built by an earlier round): then no job at all.
        if (command.kind === 'bg' || command.kind === 'fg') {
          const id = command.kind === 'bg' && result.stdout.trim() ? (JSON.parse(result.stdout) as { id: string }).id : /job (j-[0-9a-z]+): image /.exec(result.stderr)?.[1];
          if (id) jobIds.push(id);
          else expect(result.stderr, where).toContain(`image ${command.image} is up to date`);
        }
        // Readers never see a half-written file: their JSON parses, whatever was being written meanwhile.
        if (command.kind === 'images') expect(Array.isArray(JSON.parse(result.stdout)), where).toBe(true);
        if (command.kind === 'queue') expect(Array.isArray(JSON.parse(result.stdout)), where).toBe(true);
      }
    }
    expect(failures).toEqual([]);
    await waitForIdleQueue();

    // The queue validates; no job is lost (every answered id is there, done) and none is doubled.
    const jobs = (await readQueue(sandbox.home)).jobs;
    const ids = jobs.map((job) => job.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const id of jobIds) expect(jobs.find((job) => job.id === id), `job ${id}`).toMatchObject({ state: 'done' });
    expect(jobs.filter((job) => job.state !== 'done')).toEqual([]);
    // Each image was built by exactly one job, however many processes asked for it at once.
    for (const image of IMAGES) expect(jobs.filter((job) => job.image === image && job.result === 'built').length, image).toBe(1);
    // Each job's log tells the same end as queue.json.
    for (const job of jobs) expect(await readFile(job.logFile, 'utf8'), job.id).toContain(`job ${job.id}: done`);
    // The previous versions kept as .bak validate too.
    queueFileSchema.parse(JSON.parse(await readFile(path.join(sandbox.home, 'queue/queue.json.bak'), 'utf8')));
    registryIndexSchema.parse(JSON.parse(await readFile(path.join(sandbox.home, 'images/index.json.bak'), 'utf8')));

    // The registry validates, lists each image once, each with exactly its one box file; no work folder is left.
    const index = await readIndex(sandbox.home);
    expect(Object.keys(index.images).sort()).toEqual(['base', 'debian-12', 'docker', ...IMAGES]);
    const text = await readFile(path.join(sandbox.home, 'images/index.json'), 'utf8');
    for (const image of IMAGES) {
      expect(text.match(new RegExp(`"name": "${image}"`, 'g'))?.length, image).toBe(1);
      expect(index.images[image]).toMatchObject({ kind: 'role', parent: 'debian-12' });
      expect(await readdir(path.join(sandbox.home, 'images', image))).toEqual([index.images[image]?.file]);
    }
    expect(await readdir(path.join(sandbox.home, 'tmp')).catch(() => [])).toEqual([]);
    const listed = JSON.parse((await sandbox.make(['images', 'JSON=1'], env)).stdout) as { name: string }[];
    expect(listed.map((image) => image.name).sort()).toEqual(Object.keys(index.images).sort());

    // lab.yaml parses and holds exactly the machines created and not deleted.
    const lab = labSchema.parse(parseYaml((await sandbox.readLab()) ?? ''));
    expect(Object.keys(lab.machines).sort()).toEqual(['m5', 'm6', 'm7']);
    expect((await sandbox.readVagrantfile())?.match(/config\.vm\.define '[^']+'/g)?.sort()).toEqual(["config.vm.define 'm5'", "config.vm.define 'm6'", "config.vm.define 'm7'"]);
    expect((await sandbox.calls()).filter((call) => call.unplanned)).toEqual([]);
  });
});

/*
 * The JsonStateFile lock itself: four processes each add their own entries to index.json and queue.json
 * through Registry.update and QueueStore.update (vmlab's own modules), reading both back between
 * writes. Every entry of every process must be there at the end: no update lost, no read ever torn.
 */
describe('four processes updating the registry index and the queue file at once', () => {
  it('loses no update', async () => {
    const PER_PROCESS = 25;
    const script = path.join(sandbox.root, 'hammer.mjs');
    await writeFile(
      script,
      `import { Registry } from ${JSON.stringify(path.join(REPO, 'src/images/registry.ts'))};
import { QueueStore } from ${JSON.stringify(path.join(REPO, 'src/queue/queue-store.ts'))};
const [home, who, count] = process.argv.slice(2);
const registry = new Registry(home);
const store = new QueueStore(home);
for (let n = 0; n < Number(count); n++) {
  const name = 'p' + who + '-' + n;
  await registry.update((index) => {
    index.images[name] = { name, kind: 'custom', role: null, source: 'hammer', parent: null, created: new Date().toISOString(), sizeBytes: n,
      virtualSizeBytes: 0, sha256: 'b'.repeat(64), inputDigest: 'x', features: [], file: name + '.box', box: 'vmlab/' + name, boxVersion: '0.1', retiredVersions: [] };
  });
  await store.update((queue) => {
    queue.jobs.push({ id: 'j-p' + who + 'x' + n, image: name, force: false, state: 'done', createdAt: new Date().toISOString(), logFile: '/dev/null', dependsOn: [] });
  });
  // Both files validate on every read (a torn or corrupt file throws).
  await registry.read();
  await store.read();
}
`,
    );
    const processes = [0, 1, 2, 3].map((who) =>
      // vite-node runs vmlab's own modules from src/ (the built CLI is one bundle).
      execa(path.join(REPO, 'node_modules/.bin/vite-node'), [script, sandbox.home, String(who), String(PER_PROCESS)], { reject: false, env: { ...process.env, VMLAB_STATE_DIR: path.join(sandbox.root, 'state') } }),
    );
    for (const result of await Promise.all(processes)) expect(result.exitCode, result.stderr).toBe(0);

    const expected = [0, 1, 2, 3].flatMap((who) => Array.from({ length: PER_PROCESS }, (_, n) => `p${who}-${n}`));
    const index = await readIndex(sandbox.home);
    expect(Object.keys(index.images).filter((name) => name.startsWith('p')).sort()).toEqual([...expected].sort());
    const jobs = (await readQueue(sandbox.home)).jobs;
    expect(jobs.map((job) => job.image).sort()).toEqual([...expected].sort());
    // Each process's own entries are in the order it wrote them.
    for (const who of [0, 1, 2, 3]) {
      const mine = jobs.filter((job) => job.image.startsWith(`p${who}-`)).map((job) => job.image);
      expect(mine).toEqual(Array.from({ length: PER_PROCESS }, (_, n) => `p${who}-${n}`));
    }
    expect(existsSync(path.join(sandbox.home, 'queue/queue.lock'))).toBe(false);
    expect(existsSync(path.join(sandbox.home, 'images/index.lock'))).toBe(false);
  });
});
