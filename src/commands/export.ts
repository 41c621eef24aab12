import type { Context } from '../context.js';
import { UserError } from '../errors.js';
import { exportMachine } from '../images/export-vm.js';
import { importBox } from '../images/import-box.js';
import { DryRunStop } from '../images/run-builder.js';

/** make export NAME=web TARGET=web-golden [FILE=web.box] [FORCE=1] */
export async function exportCommand(context: Context, request: { name?: string; target?: string; file?: string; force: boolean }): Promise<void> {
  if (!request.name) throw new UserError('which machine? export needs NAME', 'Example: make export NAME=web TARGET=web-golden', 2);
  if (!request.target) throw new UserError('which image? export needs TARGET, the new image name', `Example: make export NAME=${request.name} TARGET=${request.name}-golden`, 2);
  const record = await stopOnDryRun(exportMachine(context, { machine: request.name, target: request.target, file: request.file, force: request.force }));
  if (record) context.ui.info(`next: a VM from it: make create-${record.role ?? 'base'} NAME=<name> IMAGE=${record.name}`);
}

/** make image-import FILE=x.box TARGET=name [FORCE=1] */
export async function importCommand(context: Context, request: { file?: string; target?: string; force: boolean }): Promise<void> {
  if (!request.file) throw new UserError('which box? image-import needs FILE', 'Example: make image-import FILE=web-golden.box TARGET=web-golden', 2);
  if (!request.target) throw new UserError('which name? image-import needs TARGET, the new image name', `Example: make image-import FILE=${request.file} TARGET=imported`, 2);
  const record = await stopOnDryRun(importBox(context, { file: request.file, target: request.target, force: request.force }));
  if (record) context.ui.info(`next: a VM from it: make create-${record.role ?? 'base'} NAME=<name> IMAGE=${record.name}`);
}

async function stopOnDryRun<T>(work: Promise<T>): Promise<T | undefined> {
  try {
    return await work;
  } catch (error) {
    if (error instanceof DryRunStop) return undefined;
    throw error;
  }
}
