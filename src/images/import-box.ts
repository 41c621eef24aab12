import { mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import type { Context } from '../context.js';
import { CommandError, UserError } from '../errors.js';
import { checkLibvirt } from '../host/preflight.js';
import { copyBox } from './box-files.js';
import { parseQemuImgInfo } from './box-format.js';
import { BuildLog } from './build-log.js';
import { checkCustomTarget, parseBoxLineage } from './custom-image.js';
import { planBuild, plannedVersion, registerBox, type BuildPlan } from './register-box.js';
import type { ImageRecord } from './registry-schema.js';
import { Registry } from './registry.js';
import { DryRunStop } from './run-builder.js';

/** The files of a box tar, without a leading ./ */
export function boxMembers(tarList: string): string[] {
  return tarList
    .split('\n')
    .map((line) => line.trim().replace(/^\.\//, ''))
    .filter(Boolean);
}

/** A libvirt box's metadata.json must say provider libvirt and a qcow2 disk. */
export function checkBoxMetadata(text: string, file: string): void {
  let data: { provider?: unknown; format?: unknown };
  try {
    data = JSON.parse(text) as typeof data;
  } catch {
    throw new UserError(`${file}: metadata.json is not JSON`, 'Is it a Vagrant box? See: make export FILE=... to make one');
  }
  if (data.provider !== 'libvirt') throw new UserError(`${file}: a box for provider ${JSON.stringify(data.provider)}, not libvirt`, 'vmlab runs libvirt boxes only');
  if (data.format !== undefined && data.format !== 'qcow2') throw new UserError(`${file}: its disk format is ${JSON.stringify(data.format)}, not qcow2`, 'vmlab runs qcow2 libvirt boxes only');
}

/**
 * `make image-import FILE=x.box TARGET=name`: a box from elsewhere (another vmlab's export, a vagrant
 * package) checked like an export (libvirt metadata, qemu-img check, no backing file) and registered as a
 * custom image. An exported box names its parent, role and features in vmlab.json; the parent is kept when
 * this registry has it. The user's file is left where it is.
 */
export async function importBox(context: Context, request: { file: string; target: string; force: boolean }): Promise<ImageRecord | undefined> {
  const registry = new Registry(context.home);
  const index = await registry.read();
  await checkCustomTarget(context, index, request.target, { force: request.force, retry: `make image-import FILE=${request.file} TARGET=<target>` });
  const file = path.resolve(request.file);
  const listed = await context.runner.run('tar', ['-tf', file], { readOnly: true, check: false });
  if (listed.exitCode !== 0) throw new UserError(`${request.file} is not a readable box (tar: ${listed.stderr.trim().split('\n')[0] ?? ''})`, 'Give the path of a .box file, e.g. one written by make export FILE=..');
  const members = boxMembers(listed.stdout);
  for (const required of ['box.img', 'metadata.json']) {
    if (!members.includes(required)) throw new UserError(`${request.file} has no ${required}; it is not a libvirt Vagrant box`, 'Give a box written by make export FILE=.. or vagrant package');
  }
  const member = (name: string) => (listed.stdout.includes(`./${name}`) ? `./${name}` : name);
  checkBoxMetadata((await context.runner.run('tar', ['-xOf', file, member('metadata.json')], { readOnly: true })).stdout, request.file);
  const lineage = members.includes('vmlab.json') ? parseBoxLineage((await context.runner.run('tar', ['-xOf', file, member('vmlab.json')], { readOnly: true })).stdout) : undefined;
  await checkLibvirt(context);

  const plan: BuildPlan = { ...planBuild(context, request.target), workDir: path.join(context.home, 'tmp', `build-${request.target}-${process.pid}`) };
  if (context.dryRun) {
    context.ui.out(`tar -xf ${file} -C ${plan.workDir} box.img; qemu-img check ${path.join(plan.workDir, 'box.img')}`);
    context.ui.out(`vagrant box add --provider libvirt <catalog of ${plan.box} ${plannedVersion(plan)}>`);
    throw new DryRunStop(`would import ${request.file} as image ${request.target}`);
  }
  const log = await BuildLog.open(context.home, request.target);
  const progress = context.ui.progress(`importing ${request.file} as image ${request.target}`);
  try {
    await mkdir(plan.workDir, { recursive: true });
    await log.line(`import of ${file}`);
    progress.update(`importing ${request.file}: checking its disk`);
    await context.runner.run('tar', ['-xf', file, '-C', plan.workDir, member('box.img')]);
    const disk = path.join(plan.workDir, 'box.img');
    const check = await context.runner.run('qemu-img', ['check', disk], { check: false, readOnly: true });
    if (check.exitCode !== 0) throw new UserError(`${request.file}: its disk fails qemu-img check: ${check.stdout.trim().split('\n').at(-1) ?? ''}`, 'The box is damaged; export it again');
    const info = parseQemuImgInfo((await context.runner.run('qemu-img', ['info', '--output=json', disk], { readOnly: true })).stdout);
    if (info.format !== 'qcow2') throw new UserError(`${request.file}: its box.img is ${info.format}, not qcow2`, 'vmlab runs qcow2 libvirt boxes only');
    if (info.backingFile) throw new UserError(`${request.file}: its box.img needs a backing file (${info.backingFile})`, 'Export a flattened disk (make export does)');
    await rm(disk);
    const built = path.join(plan.workDir, plan.file);
    await copyBox(file, built);
    const parent = lineage?.parent && index.images[lineage.parent] ? lineage.parent : null;
    progress.update(`importing ${request.file}: adding the Vagrant box`);
    const record = await registerBox(
      context,
      plan,
      {
        built,
        source: `import of ${path.basename(file)}`,
        virtualSizeBytes: info.virtualSizeBytes,
        inputDigest: 'import',
        log,
        lineage: { kind: 'custom', role: lineage?.role ?? null, parent, features: lineage?.features ?? [] },
      },
      { mustBeNew: !request.force },
    );
    progress.succeed(`imported ${request.file} as image ${record.name} (${(record.sizeBytes / 2 ** 20).toFixed(0)} MiB${parent ? `, parent ${parent}` : ''})`);
    return record;
  } catch (error) {
    progress.fail(`importing ${request.file} failed`);
    if (error instanceof CommandError) throw new UserError(`importing ${request.file} failed: ${error.message}`, `Full log: ${log.file}`);
    throw error;
  } finally {
    await rm(plan.workDir, { recursive: true, force: true });
    await log.close();
  }
}
