import { copyFile, mkdir, readdir, rm, stat, statfs, writeFile } from 'node:fs/promises';
import { moveFile } from '../atomic-write.js';
import path from 'node:path';
import { vagrantArgs } from '../adapters/vagrant.js';
import { parseBlockList, Virsh, virshArgs } from '../adapters/virsh.js';
import { bootExisting } from '../commands/start.js';
import type { Context } from '../context.js';
import { UserError } from '../errors.js';
import { preflight } from '../host/preflight.js';
import { runVagrantStep } from '../lab/parallel.js';
import { requireMachine, type ResolvedMachine } from '../lab/resolve-machines.js';
import { loadWorkspace, resolveMachines, syncVagrantfile, type Workspace } from '../lab/workspace.js';
import { checkMachineName } from '../names.js';
import { formatArgv } from '../runner.js';
import { isProcessAlive } from '../process-alive.js';
import { sha256File } from './box-files.js';
import { boxMetadata, boxVagrantfile, parseQemuImgInfo } from './box-format.js';
import { BuildLog } from './build-log.js';
import { checkCustomTarget, type BoxLineage } from './custom-image.js';
import { planBuild, registerBox, type BuildPlan } from './register-box.js';
import type { ImageRecord } from './registry-schema.js';
import { Registry } from './registry.js';
import { guardBuild, runBuilderScript } from './run-builder.js';
import { cleanStaleBuilds } from './stale-builds.js';

export const EXPORT_BUILDER = 'scripts/image/export-disk.sh';

const MiB = 2 ** 20;

export interface ExportRequest {
  machine: string;
  target: string;
  /** Also write the box here, to share it. */
  file?: string;
  /** Replace an existing custom image of that name (FORCE=1). */
  force: boolean;
  /** false: a plain qcow2 in the box, faster to make (clone's private image). */
  compress?: boolean;
  /** The registry's "source" words; default "export of <machine>". */
  source?: string;
  /** How to retry, for messages: make export NAME=web TARGET=<target>. */
  retry?: string;
}

/**
 * A VM's disk as a new custom image: halt the VM if it runs, flatten and compress its disk without the
 * machine's identity (scripts/image/export-disk.sh), register the box with the VM's image as its parent,
 * and start the VM again. Whatever fails, the VM is started again if it was running, and nothing is
 * registered; the work folder (export-<image>-<pid>) goes, and a killed export's folder is cleared by the
 * next export or build.
 */
export async function exportMachine(context: Context, request: ExportRequest): Promise<ImageRecord | undefined> {
  checkMachineName(request.machine);
  const workspace = await loadWorkspace(context);
  requireMachine(workspace.labFile.lab, request.machine);
  const machine = resolveMachines(workspace).find((candidate) => candidate.name === request.machine) as ResolvedMachine;
  const retry = request.retry ?? `make export NAME=${machine.name} TARGET=<target>`;
  await checkCustomTarget(context, workspace.images, request.target, { force: request.force, retry });
  const file = request.file ? await checkBoxFile(request.file, request.force) : undefined;
  await preflight(context, ['vagrant', 'virsh']);
  await cleanStaleBuilds(context);

  const virsh = new Virsh(context.runner, context.libvirtUri);
  const domain = (await virsh.domains()).find((row) => row.name === machine.domain);
  if (!domain) {
    throw new UserError(`${machine.name} is declared but has no VM in libvirt (never created, or destroyed outside vmlab)`, `Create it first: make start NAME=${machine.name}`);
  }
  if (domain.state !== 'running' && domain.state !== 'shut off') {
    throw new UserError(`${machine.name} is ${domain.state}; export needs it running or shut off`, `Stop it first: make stop NAME=${machine.name}`);
  }
  const disk = parseBlockList((await virsh.query(virshArgs.domblklist(machine.domain))).stdout)[0];
  if (!disk) throw new UserError(`${machine.name} has no disk in libvirt (virsh domblklist ${machine.domain})`, `Inspect: virsh -c ${context.libvirtUri} dumpxml ${machine.domain}`);

  const plan: BuildPlan = { ...planBuild(context, request.target), workDir: path.join(context.home, 'tmp', `export-${request.target}-${process.pid}`) };
  const built = path.join(plan.workDir, plan.file);
  const meta = path.join(plan.workDir, 'meta');
  const argv = [
    path.join(context.projectRoot, EXPORT_BUILDER),
    ...['--disk', disk.source, '--out', built, '--workdir', plan.workDir],
    ...['--metadata', path.join(meta, 'metadata.json'), '--vagrantfile', path.join(meta, 'Vagrantfile'), '--extra', path.join(meta, 'vmlab.json')],
    ...(request.compress === false ? ['--no-compress'] : []),
    ...sysprepChoice(context.env),
  ];
  const wasRunning = domain.state === 'running';
  if (context.dryRun && wasRunning) context.ui.out(formatArgv('vagrant', vagrantArgs.halt(machine.name)));
  guardBuild(context, plan, argv, 'export of');

  let interrupted = false;
  const onInterrupt = () => {
    interrupted = true;
  };
  process.on('SIGINT', onInterrupt);
  process.on('SIGTERM', onInterrupt);
  const started = Date.now();
  const partialFile = file ? `${file}.partial-${process.pid}` : undefined;
  if (file && !context.dryRun) await removeDeadPartials(context, file);
  try {
    if (wasRunning) {
      context.ui.info(`halting ${machine.name} for the export (it starts again afterwards)`);
      await syncVagrantfile(context);
      // A step line like make stop's: vagrant's own output goes to the machine's log (VERBOSE=1 shows it).
      await runVagrantStep(context, 'halt', { name: machine.name, domain: machine.domain, args: vagrantArgs.halt(machine.name) });
    }
    const info = parseQemuImgInfo((await context.runner.run('qemu-img', ['info', '--output=json', disk.source], { readOnly: true })).stdout);
    await mkdir(meta, { recursive: true });
    await checkFreeSpace(context, disk.source, plan.workDir, machine.name);
    await writeFile(path.join(meta, 'metadata.json'), boxMetadata(info.virtualSizeBytes));
    await writeFile(path.join(meta, 'Vagrantfile'), await parentVagrantfile(context, workspace, machine.image));
    const lineage = exportLineage(workspace, machine, request.target, plan.created);
    await writeFile(path.join(meta, 'vmlab.json'), `${JSON.stringify(lineage, null, 2)}\n`);

    const log = await BuildLog.open(context.home, request.target);
    try {
      await log.line(`export of ${machine.name} (domain ${machine.domain}, disk ${disk.source}) to image ${request.target}`);
      await runBuilderScript(context, request.target, argv, log, undefined, `exporting ${machine.name} to image ${request.target}`);
      if (file && partialFile) await copyVerified(built, partialFile);
      const record = await registerBox(
        context,
        plan,
        {
          built,
          source: request.source ?? `export of ${machine.name}`,
          virtualSizeBytes: info.virtualSizeBytes,
          inputDigest: await sha256File(built),
          log,
          lineage: { kind: 'custom', role: lineage.role, parent: lineage.parent, features: lineage.features },
        },
        { mustBeNew: !request.force },
      );
      if (file && partialFile) await moveFile(partialFile, file);
      context.ui.info(
        `image ${record.name}: ${(record.sizeBytes / MiB).toFixed(0)} MiB box, ${(record.virtualSizeBytes / 2 ** 30).toFixed(0)} GiB disk, ` +
          `sha256 ${record.sha256.slice(0, 16)}..., exported in ${Math.round((Date.now() - started) / 1000)} s${file ? `; also written to ${file}` : ''}`,
      );
      return record;
    } finally {
      await log.close();
    }
  } finally {
    process.off('SIGINT', onInterrupt);
    process.off('SIGTERM', onInterrupt);
    if (partialFile) await rm(partialFile, { force: true });
    await rm(plan.workDir, { recursive: true, force: true });
    if (wasRunning && !context.dryRun) {
      if (interrupted) context.ui.warn(`${machine.name} was running before the export; start it again: make start NAME=${machine.name}`);
      else await bootExisting(context, machine.name);
    }
  }
}

/** What the new image holds: its parent's features and every feature of the VM's role (provisioned at first boot). */
function exportLineage(workspace: Workspace, machine: ResolvedMachine, target: string, created: Date): BoxLineage {
  const parentRecord = workspace.images.images[machine.image];
  const roleFeatures = workspace.roles.get(machine.role)?.features ?? [];
  return {
    format: 1,
    name: target,
    parent: parentRecord && machine.image !== target ? machine.image : (parentRecord?.parent ?? null),
    role: machine.role,
    features: [...new Set([...(parentRecord?.features ?? []), ...roleFeatures])],
    exportedFrom: { machine: machine.name, lab: workspace.labFile.lab.name },
    created: created.toISOString(),
  };
}

/** The box Vagrantfile of the VM's image (a cloud image's seed drive, say), or the plain default. */
async function parentVagrantfile(context: Context, workspace: Workspace, image: string): Promise<string> {
  const record = workspace.images.images[image];
  if (record) {
    const result = await context.runner.run('tar', ['-xOf', new Registry(context.home).boxFile(record), 'Vagrantfile'], { readOnly: true, check: false });
    if (result.exitCode === 0 && result.stdout.trim()) return result.stdout;
  }
  return boxVagrantfile(null);
}

/**
 * The flattened raw disk and the compressed copy both land in the work folder: ask for twice what the
 * disk holds (qemu-img measure: the allocated data, decompressed) and refuse before writing anything.
 */
async function checkFreeSpace(context: Context, disk: string, workDir: string, name: string): Promise<void> {
  const measured = await context.runner.run('qemu-img', ['measure', '--output=json', '-O', 'qcow2', disk], { readOnly: true, check: false });
  if (measured.exitCode !== 0) return;
  const required = Number((JSON.parse(measured.stdout) as { required?: number }).required ?? 0);
  const fs = await statfs(workDir);
  const free = fs.bavail * fs.bsize;
  const needed = 2 * required + 64 * MiB;
  if (free < needed) {
    throw new UserError(
      `not enough free space to export ${name}: it needs about ${gib(needed)} under ${path.dirname(workDir)}, ${gib(free)} is free`,
      'Free some space (make gc lists what vmlab can remove), or set VMLAB_HOME to a larger disk',
    );
  }
}

function gib(bytes: number): string {
  return `${(bytes / 2 ** 30).toFixed(1)} GiB`;
}

/** FILE=: an absolute path in an existing folder; an existing file only with FORCE=1. */
export async function checkBoxFile(file: string, force: boolean): Promise<string> {
  const absolute = path.resolve(file);
  const folder = await stat(path.dirname(absolute)).catch(() => undefined);
  if (!folder?.isDirectory()) throw new UserError(`FILE=${file}: folder ${path.dirname(absolute)} does not exist`, 'Create it first, or give another FILE', 2);
  if ((await stat(absolute).catch(() => undefined)) && !force) throw new UserError(`FILE=${file} exists`, 'Give another FILE, or overwrite it with FORCE=1');
  return absolute;
}

/** Copy a box and check the copy against the original's sha256 before it counts. */
/** The box to FILE=, checked: there must be room for it first (a full disk is refused, not half-written). */
async function copyVerified(from: string, to: string): Promise<void> {
  const size = (await stat(from)).size;
  const fs = await statfs(path.dirname(to));
  const free = fs.bavail * fs.bsize;
  if (free < size + MiB) {
    throw new UserError(
      `not enough free space for FILE=${to.replace(/\.partial-\d+$/, '')}: the box is ${(size / MiB).toFixed(0)} MiB, ${(free / MiB).toFixed(0)} MiB is free in ${path.dirname(to)}`,
      'Free space there or pick another FILE; nothing was registered',
    );
  }
  await copyFile(from, to);
  const [expected, actual] = await Promise.all([sha256File(from), sha256File(to)]);
  if (expected !== actual) throw new UserError(`the copy of the box at ${to} does not match (sha256 ${actual}, expected ${expected})`, 'Check the disk holding FILE; nothing was registered');
}

/** <file>.partial-<pid> copies that an export killed before it could finish left next to FILE=. */
async function removeDeadPartials(context: Context, file: string): Promise<void> {
  const prefix = `${path.basename(file)}.partial-`;
  for (const entry of await readdir(path.dirname(file)).catch(() => [] as string[])) {
    const pid = Number(entry.slice(prefix.length));
    if (!entry.startsWith(prefix) || !Number.isInteger(pid) || pid <= 0 || isProcessAlive(pid)) continue;
    context.ui.info(`removing ${entry}, left by an export that was killed`);
    await rm(path.join(path.dirname(file), entry), { force: true });
  }
}

/** VMLAB_EXPORT_SYSPREP=builtin|virt-sysprep|auto: how the identity is removed (default auto: virt-sysprep where installed). */
function sysprepChoice(env: NodeJS.ProcessEnv): string[] {
  const choice = env.VMLAB_EXPORT_SYSPREP;
  if (!choice) return [];
  if (!['auto', 'builtin', 'virt-sysprep'].includes(choice)) {
    throw new UserError(`VMLAB_EXPORT_SYSPREP must be auto, builtin or virt-sysprep, got ${JSON.stringify(choice)}`, 'Unset it to let vmlab choose', 2);
  }
  return ['--sysprep', choice];
}
