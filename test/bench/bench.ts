/**
 * make bench: vmlab's speed against the raw tools, measured in one run on this machine, with real VMs.
 *
 *   1. `make list` against `vagrant status`, with 1 and with 3 running VMs (medians of several runs), and
 *      vmlab's own time with 3 against its time with 1
 *   2. `make create-base` from a built image against the same domain's own boot to sshd (`virsh start` of
 *      the halted domain until port 22 answers), and against a raw `vagrant up` of the same Vagrantfile
 *      block and box; the create's phases, as its step display reports them
 *   3. `make build` of a current image (absolute), and a rebuild of a removed image from the box cache
 *   4. `make export` against a raw `qemu-img convert -c` of the same disk; the box size against
 *      `vagrant package` of the same VM (where virt-sysprep and virt-sparsify are installed)
 *   5. the disk a new VM uses after its first boot (a thin overlay on the box volume)
 *   6. a 3-VM group `make up` against one VM up
 *
 * Everything it makes is named vmlab-bn<pid>-* and removed at the end, also on failure or Ctrl-C. The
 * results go to test/bench/results.json and, as a table, into README.md between the bench markers.
 */
import { execFileSync } from 'node:child_process';
import { connect } from 'node:net';
import { copyFile, mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { RealLab } from '../real/real-lab.js';
import { REPO } from '../support/fakes.js';

interface Row {
  what: string;
  vmlab: string;
  raw: string;
  ratio: string;
  note?: string;
}

const rows: Row[] = [];
const figures: Record<string, number | string> = {};
const VAGRANT_ENV = { VAGRANT_CHECKPOINT_DISABLE: '1', VAGRANT_BOX_UPDATE_CHECK_DISABLE: '1', VAGRANT_DEFAULT_PROVIDER: 'libvirt' };
const RUNS = Number(process.env.BENCH_RUNS ?? 5);

const seconds = (ms: number) => `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 0)} s`;
const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(0)} MiB`;
const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
const say = (text: string) => process.stderr.write(`bench: ${text}\n`);

async function timed<T>(run: () => Promise<T>): Promise<{ ms: number; result: T }> {
  const started = performance.now();
  const result = await run();
  return { ms: performance.now() - started, result };
}

async function medianOf(runs: number, run: () => Promise<unknown>): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < runs; i++) times.push((await timed(run)).ms);
  return median(times);
}

function must(result: { exitCode?: number; all?: string; command?: string }, what: string): void {
  if (result.exitCode !== 0) throw new Error(`${what} failed (exit ${result.exitCode}):\n${(result.all ?? '').slice(-3000)}`);
}

async function main(): Promise<void> {
  const lab = new RealLab('bn');
  await lab.open();
  const machines = ['one', 'g1', 'g2', 'g3'];
  const rawDir = path.join(lab.root, 'raw');
  const rawPrefix = `vmlab-${lab.id}raw-`;
  let interrupted = false;
  let driver = 'driver not probed';
  process.on('SIGINT', () => {
    interrupted = true;
    say('interrupted: cleaning up');
  });
  try {
    must(await lab.make(['setup']), 'make setup');
    must(await lab.make(['build', 'ROLE=base']), 'make build ROLE=base');

    // 3. A build of a current image: nothing to do; then a removed image back from the cache.
    const upToDate = await medianOf(RUNS, async () => must(await lab.make(['build', 'ROLE=base']), 'build'));
    rows.push({ what: 'make build, image current (median)', vmlab: seconds(upToDate), raw: '-', ratio: '-', note: 'target: at most 0.2 s' });
    figures.buildCurrentSeconds = upToDate / 1000;
    must(await lab.make(['image-rm', 'IMAGE=base', 'YES=1']), 'image-rm');
    const fromCache = await timed(async () => lab.make(['build', 'ROLE=base']));
    must(fromCache.result, 'build from the cache');
    rows.push({ what: 'make build, removed image from the box cache', vmlab: seconds(fromCache.ms), raw: '-', ratio: '-', note: fromCache.result.all?.includes('cache') ? 'cache hit' : 'rebuilt' });
    figures.buildFromCacheSeconds = fromCache.ms / 1000;
    const box = (await lab.images()).find((entry) => entry.name === 'base')!;

    // The box goes into the pool first, so that neither of the two ups below pays for its upload.
    await warmPool(lab, box.box, box.boxVersion);

    // 2 and 6 (one VM). One base VM through vmlab, its phases from the time stamps of its lines.
    const one = await timedLines(() => lab.make(['create-base', 'NAME=one', 'MEMORY=512']));
    must(one.result, 'make create-base NAME=one');
    driver = driverOf(await readFile(path.join(lab.root, 'home', 'host', 'kvm-probe.json'), 'utf8').catch(() => ''));
    for (const phase of createPhases(one.lines, 'one')) {
      rows.push({ what: `create phase: ${phase.name}`, vmlab: seconds(phase.ms), raw: '-', ratio: '-' });
      figures[`createPhase ${phase.name}`] = phase.ms / 1000;
    }
    figures.createSeconds = one.ms / 1000;
    await mkdir(rawDir, { recursive: true });
    const key = path.join(lab.root, 'home', 'keys', lab.domain('one'));
    await copyFile(key, path.join(rawDir, 'key'));
    const vagrantfile = (await readFile(path.join(lab.labDir, 'Vagrantfile'), 'utf8')).replaceAll(key, path.join(rawDir, 'key'));
    await writeFile(path.join(rawDir, 'Vagrantfile'), vagrantfile.replaceAll(`'vmlab-${lab.id}-'`, `'${rawPrefix}'`));

    // 5. The disk of the new VM: a thin qcow2 overlay on the box volume.
    const disk = (await lab.virsh(['domblklist', lab.domain('one'), '--details'])).split('\n').find((line) => /\sdisk\s/.test(line))?.trim().split(/\s+/).at(-1) ?? '';
    const info = JSON.parse(execFileSync('qemu-img', ['info', '-U', '--output=json', disk], { encoding: 'utf8' })) as { 'actual-size': number; 'virtual-size': number };
    rows.push({ what: 'disk used by a new VM after its first boot', vmlab: mib(info['actual-size']), raw: `${mib(info['virtual-size'])} virtual`, ratio: (info['actual-size'] / info['virtual-size']).toFixed(3), note: `thin overlay on the ${mib(box.sizeBytes)} box volume; target: under 50 MiB` });
    figures.newDiskBytes = info['actual-size'];

    // 1. Listing with one running VM.
    const listOne = await medianOf(RUNS, async () => must(await lab.make(['list']), 'make list'));
    const statusOne = await medianOf(RUNS, async () => execa('vagrant', ['status'], { cwd: lab.labDir, env: VAGRANT_ENV }));
    rows.push({ what: 'make list / vagrant status, 1 running VM (median)', vmlab: seconds(listOne), raw: seconds(statusOne), ratio: (listOne / statusOne).toFixed(2), note: 'target: at most 0.1' });
    figures.listOneSeconds = listOne / 1000;
    figures.vagrantStatusOneSeconds = statusOne / 1000;

    // 2. The same domain's own boot: halted, then started by virsh until its sshd answers.
    must(await lab.make(['stop', 'NAME=one']), 'make stop NAME=one');
    const boot = await bootToSsh(lab, lab.domain('one'));
    rows.push({ what: 'create one base VM (512 MiB) from a built image / the same domain booting to sshd', vmlab: seconds(one.ms), raw: seconds(boot), ratio: (one.ms / boot).toFixed(2), note: 'raw: virsh start of the halted domain until port 22 answers; target: at most 1.5' });
    figures.ownBootSeconds = boot / 1000;
    must(await lab.make(['delete', 'NAME=one', 'YES=1']), 'delete one');

    // The same Vagrantfile block and box with raw vagrant (and the same key, copied before the delete).
    const raw = await timed(async () => execa('vagrant', ['up', 'one', '--provider=libvirt'], { cwd: rawDir, env: VAGRANT_ENV, reject: false, all: true }));
    must(raw.result, 'raw vagrant up');
    rows.push({ what: 'create one base VM (512 MiB) / raw vagrant up of the same Vagrantfile block and box', vmlab: seconds(one.ms), raw: seconds(raw.ms), ratio: (one.ms / raw.ms).toFixed(2), note: 'vmlab adds the plan, admission and the health checks' });
    figures.rawUpSeconds = raw.ms / 1000;
    await execa('vagrant', ['destroy', '-f', 'one'], { cwd: rawDir, env: VAGRANT_ENV, reject: false });

    // 6. Three VMs of a group side by side.
    await writeFile(
      path.join(lab.labDir, 'lab.yaml'),
      `name: ${lab.id}\nmachines:\n${['g1', 'g2', 'g3'].map((name) => `  ${name}:\n    role: base\n    memory: 512\n    group: g\n`).join('')}`,
    );
    const group = await timed(async () => lab.make(['up', 'GROUP=g']));
    must(group.result, 'make up GROUP=g');
    rows.push({ what: '3-VM group up against one VM up', vmlab: seconds(group.ms), raw: seconds(one.ms), ratio: (group.ms / one.ms).toFixed(2), note: `side by side on ${os.availableParallelism()} cores; target: at most 1.6` });
    figures.groupUpSeconds = group.ms / 1000;

    // 1. Listing a lab of three running VMs.
    const list = await medianOf(RUNS, async () => must(await lab.make(['list']), 'make list'));
    const status = await medianOf(RUNS, async () => execa('vagrant', ['status'], { cwd: lab.labDir, env: VAGRANT_ENV }));
    rows.push({ what: 'make list / vagrant status, 3 running VMs (median)', vmlab: seconds(list), raw: seconds(status), ratio: (list / status).toFixed(2), note: 'target: at most 0.1' });
    rows.push({ what: 'make list, 3 running VMs / 1 running VM', vmlab: seconds(list), raw: seconds(listOne), ratio: (list / listOne).toFixed(2), note: 'a fixed number of virsh calls; target: at most 1.2' });
    figures.listSeconds = list / 1000;
    figures.vagrantStatusSeconds = status / 1000;

    // 4. Export against a raw compressed copy of the same (halted) disk, and against vagrant package.
    must(await lab.make(['stop', 'NAME=g1']), 'make stop NAME=g1');
    const g1disk = (await lab.virsh(['domblklist', lab.domain('g1'), '--details'])).split('\n').find((line) => /\sdisk\s/.test(line))?.trim().split(/\s+/).at(-1) ?? '';
    const rawCopy = path.join(lab.root, 'raw-convert.qcow2');
    const convert = await timed(async () => execa('qemu-img', ['convert', '-c', '-O', 'qcow2', g1disk, rawCopy]));
    // The identity removed the way a host without libguestfs does it (the default there).
    const exported = await timed(async () => lab.make(['export', 'NAME=g1', 'TARGET=bench-golden', `FILE=${path.join(lab.root, 'golden.box')}`], { VMLAB_EXPORT_SYSPREP: 'builtin' }));
    must(exported.result, 'make export');
    const boxBytes = (await stat(path.join(lab.root, 'golden.box'))).size;
    const rawBytes = (await stat(rawCopy)).size;
    rows.push({ what: 'make export (halted VM) / qemu-img convert -c of its disk', vmlab: seconds(exported.ms), raw: seconds(convert.ms), ratio: (exported.ms / convert.ms).toFixed(2), note: 'export also strips the identity (builtin, no libguestfs), checks, hashes and registers the box' });
    rows.push({ what: 'box size / the raw compressed disk', vmlab: mib(boxBytes), raw: mib(rawBytes), ratio: (boxBytes / rawBytes).toFixed(2) });
    figures.exportSeconds = exported.ms / 1000;
    figures.rawConvertSeconds = convert.ms / 1000;
    figures.boxBytes = boxBytes;
    figures.rawConvertBytes = rawBytes;
    const packaged = await vagrantPackage(lab, 'g1');
    if (typeof packaged === 'string') {
      rows.push({ what: 'box size / vagrant package', vmlab: mib(boxBytes), raw: 'not measured', ratio: '-', note: packaged });
      figures.vagrantPackage = packaged;
    } else {
      rows.push({ what: 'box size / vagrant package', vmlab: mib(boxBytes), raw: mib(packaged.bytes), ratio: (boxBytes / packaged.bytes).toFixed(2), note: `vagrant package took ${seconds(packaged.ms)}` });
      figures.vagrantPackageBytes = packaged.bytes;
      figures.vagrantPackageSeconds = packaged.ms / 1000;
    }
  } finally {
    say('cleaning up');
    await execa('vagrant', ['destroy', '-f'], { cwd: rawDir, env: VAGRANT_ENV, reject: false }).catch(() => undefined);
    for (const name of (await lab.virsh(['list', '--all', '--name'])).split('\n').filter((line) => line.startsWith(rawPrefix))) {
      await lab.virsh(['destroy', name]);
      await lab.virsh(['undefine', name, '--remove-all-storage']);
    }
    await lab.cleanup(machines);
  }
  if (interrupted) process.exit(130);
  await report(driver);
}

/** Run a command and note when each line of its output arrived (ms from the start). */
async function timedLines(run: () => ReturnType<RealLab['make']>): Promise<{ ms: number; result: Awaited<ReturnType<RealLab['make']>>; lines: { ms: number; text: string }[] }> {
  const started = performance.now();
  const lines: { ms: number; text: string }[] = [];
  const child = run();
  let rest = '';
  child.all?.on('data', (chunk: Buffer) => {
    const text = rest + chunk.toString();
    const parts = text.split(/\r?\n/);
    rest = parts.pop() ?? '';
    for (const part of parts) lines.push({ ms: performance.now() - started, text: part });
  });
  const result = await child;
  return { ms: performance.now() - started, result, lines };
}

/**
 * The phases of a create as vmlab's own step display reports them ("one  boot  ✔ 31 s", measured by vmlab
 * from vagrant's lines as they arrive), and before them vmlab's own work up to vagrant's first step.
 */
function createPhases(lines: { ms: number; text: string }[], machine: string): { name: string; ms: number }[] {
  const steps = lines.flatMap((line) => {
    const match = new RegExp(`^${machine}\\s+(.+?)\\s+✔\\s+(?:\\S+ pass\\s+)?(\\d+) s$`).exec(line.text.trim());
    return match ? [{ name: match[1]!.trim(), ms: Number(match[2]) * 1000, at: line.ms }] : [];
  });
  const first = steps[0];
  const before = first ? [{ name: 'vmlab before vagrant (plan, checks, admission, render)', ms: Math.max(0, first.at - first.ms) }] : [];
  return [...before, ...steps.map((step) => ({ name: step.name, ms: step.ms }))];
}

/** `virsh start` of a halted domain until its sshd answers on port 22 (its address from the DHCP lease). */
async function bootToSsh(lab: RealLab, domain: string): Promise<number> {
  const started = performance.now();
  await execa('virsh', ['-c', 'qemu:///system', 'start', domain]);
  for (;;) {
    const ip = /ipv4\s+(\d+\.\d+\.\d+\.\d+)/.exec(await lab.virsh(['domifaddr', domain]))?.[1];
    if (ip && (await sshAnswers(ip))) return performance.now() - started;
    if (performance.now() - started > 900_000) throw new Error(`${domain}: sshd did not answer within 15 minutes`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/** Whether an SSH server answers on ip:22 with its banner. */
function sshAnswers(ip: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: ip, port: 22, timeout: 1000 });
    const done = (answer: boolean) => {
      socket.destroy();
      resolve(answer);
    };
    socket.once('data', (data) => done(data.toString().startsWith('SSH-')));
    socket.once('error', () => done(false));
    socket.once('timeout', () => done(false));
  });
}

function driverOf(probe: string): string {
  if (!probe) return 'driver not probed';
  return (JSON.parse(probe) as { works: boolean }).works ? 'KVM' : 'software emulation (KVM unusable)';
}

/** Upload the box into the pool as vagrant-libvirt names it, so that no measured up pays for the upload. */
async function warmPool(lab: RealLab, boxName: string, version: string): Promise<void> {
  const volume = `${boxName.replaceAll('/', '-VAGRANTSLASH-')}_vagrant_box_image_${version}_box.img`;
  if ((await lab.virsh(['vol-list', 'default'])).includes(volume)) return;
  const file = path.join(os.homedir(), '.vagrant.d', 'boxes', boxName.replaceAll('/', '-VAGRANTSLASH-'), version, 'libvirt', 'box.img');
  const info = JSON.parse(execFileSync('qemu-img', ['info', '--output=json', file], { encoding: 'utf8' })) as { 'virtual-size': number };
  await execa('virsh', ['-c', 'qemu:///system', 'vol-create-as', 'default', volume, String(info['virtual-size']), '--format', 'qcow2']);
  await execa('virsh', ['-c', 'qemu:///system', 'vol-upload', '--pool', 'default', volume, file]);
}

/** `vagrant package` of a halted machine, or why it cannot run here. */
async function vagrantPackage(lab: RealLab, machine: string): Promise<{ ms: number; bytes: number } | string> {
  const absent = (await Promise.all(['virt-sysprep', 'virt-sparsify'].map(async (tool) => ((await execa('which', [tool], { reject: false })).exitCode !== 0 ? tool : '')))).filter(Boolean);
  if (absent.length) return `needs ${absent.join(' and ')} (apt-get install libguestfs-tools, and a kernel in /boot for supermin)`;
  const out = path.join(lab.root, 'packaged.box');
  const env = { ...VAGRANT_ENV, LIBGUESTFS_BACKEND_SETTINGS: 'force_tcg' };
  const run = await timed(async () => execa('vagrant', ['package', machine, '--output', out], { cwd: lab.labDir, env, reject: false, all: true }));
  if (run.result.exitCode !== 0) return `vagrant package failed: ${(run.result.all ?? '').trim().split('\n').at(-1)}`;
  return { ms: run.ms, bytes: (await stat(out)).size };
}

async function report(driver: string): Promise<void> {
  const cpu = (await readFile('/proc/cpuinfo', 'utf8').catch(() => '')).match(/^model name\s*:\s*(.*)$/m)?.[1] ?? 'unknown CPU';
  const machine = `${os.hostname()}: ${os.availableParallelism()} cores (${cpu}), ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, ${driver}`;
  const when = new Date().toISOString();
  const results = { when, machine, rows, figures };
  await writeFile(path.join(REPO, 'test', 'bench', 'results.json'), `${JSON.stringify(results, null, 2)}\n`);
  const table = [
    '| measure | vmlab | raw tool | ratio | note |',
    '| --- | --- | --- | --- | --- |',
    ...rows.map((row) => `| ${row.what} | ${row.vmlab} | ${row.raw} | ${row.ratio} | ${row.note ?? ''} |`),
  ].join('\n');
  const summary = `<!-- bench:begin -->\nLatest \`make bench\` (${when.slice(0, 10)}, ${machine}; all figures in \`test/bench/results.json\`):\n\n${table}\n<!-- bench:end -->`;
  const readme = path.join(REPO, 'README.md');
  const text = await readFile(readme, 'utf8');
  await writeFile(readme, text.replace(/<!-- bench:begin -->[\s\S]*<!-- bench:end -->/, summary));
  process.stdout.write(`${machine}\n\n${table}\n`);
}

await main();
