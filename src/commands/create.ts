import type { Context } from '../context.js';
import { UserError } from '../errors.js';
import { preflight } from '../host/preflight.js';
import type { MachineSpec } from '../lab/lab-schema.js';
import { loadWorkspace, renderWorkspace, saveWorkspace } from '../lab/workspace.js';
import { checkImageName, checkMachineName } from '../names.js';
import { requireRole } from '../roles/load-roles.js';
import { resourcesSchema } from '../roles/role-schema.js';
import { zodIssues } from '../yaml-file.js';
import { bringUp } from './start.js';

export interface CreateRequest {
  role: string;
  name?: string;
  image?: string;
  cpus?: number;
  memory?: number;
  disk?: number;
}

/** Declare a machine in lab.yaml, render the Vagrantfile and bring the machine up. */
export async function createMachine(context: Context, request: CreateRequest): Promise<void> {
  const name = checkMachineName(request.name || request.role);
  if (request.image) checkImageName(request.image);
  const sizes = checkSizes(request);
  const workspace = await loadWorkspace(context);
  const role = requireRole(workspace.roles, request.role);

  const existing = workspace.labFile.machine(name);
  if (existing && existing.role !== role.name) {
    throw new UserError(
      `a machine named "${name}" already exists with role ${existing.role}`,
      `Pick another NAME, or remove it first: make delete NAME=${name} YES=1`,
    );
  }
  const spec: MachineSpec = { role: role.name, ...(request.image ? { image: request.image } : {}), ...sizes };
  const labFile = existing ? workspace.labFile : workspace.labFile.withMachine(name, spec);
  const vagrantfile = await renderWorkspace(context, workspace, labFile);

  await preflight(context);
  if (workspace.driver.driver === 'qemu') context.ui.warn(`using ${workspace.driver.reason}; VMs boot several times slower than under KVM`);
  await saveWorkspace(context, labFile, vagrantfile);
  if (existing) context.ui.info(`${name} is already declared with role ${role.name}; starting it`);
  await bringUp(context, labFile.lab, name);
}

function checkSizes(request: CreateRequest): Partial<MachineSpec> {
  const sizes = Object.fromEntries(
    (['cpus', 'memory', 'disk'] as const).filter((key) => request[key] !== undefined).map((key) => [key, request[key]]),
  );
  const result = resourcesSchema.partial().safeParse(sizes);
  if (!result.success) {
    const problems = zodIssues(result.error).map((issue) => `${issue.path.toUpperCase()}: ${issue.message}`);
    throw new UserError(`invalid size: ${problems.join('; ')}`, 'Example: make create-docker NAME=web CPUS=2 MEMORY=2048 DISK=20', 2);
  }
  return result.data;
}
