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
import { imageForRole } from '../images/ensure-image.js';
import { buildImage } from './build.js';
import { Registry } from '../images/registry.js';
import { kvmDeviceUsable, parseDriverChoice, readProbe } from '../host/driver.js';
import { probeKvm } from '../host/kvm-probe.js';

export interface CreateRequest {
  role: string;
  /** Set up the host first when it is not ready (the make targets ask for this). */
  setupIfNeeded?: boolean;
  /** false: do not build a missing role image; boot the nearest built ancestor and provision instead. */
  autoBuild?: boolean;
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
  // Render once before anything changes: a lab that cannot be rendered is refused untouched.
  await renderWorkspace(context, workspace, existing ? workspace.labFile : workspace.labFile.withMachine(name, { role: role.name, ...sizes }));
  await preflight(context, ['vagrant', 'virsh'], { setupIfNeeded: request.setupIfNeeded });

  let pinned: string | undefined = request.image;
  if (!existing) {
    const target = request.image ? { image: request.image, fallback: false } : await imageForRole(context, role, { autoBuild: request.autoBuild !== false });
    if (target.fallback) {
      context.ui.info(`image ${role.image} is not built (AUTO_BUILD=0): ${name} boots ${target.image} and provisions the rest of ${role.name}'s features at first boot`);
      pinned = target.image;
    }
    await buildImage(context, target.image, { force: false, background: false });
    if (!context.dryRun) await probeKvmIfNeeded(context, target.image);
  }
  const fresh = await loadWorkspace(context);
  const spec: MachineSpec = { role: role.name, ...(pinned ? { image: pinned } : {}), ...sizes };
  const labFile = existing ? fresh.labFile : fresh.labFile.withMachine(name, spec);
  const vagrantfile = await renderWorkspace(context, fresh, labFile);
  if (fresh.driver.driver === 'qemu') context.ui.warn(`using ${fresh.driver.reason}; VMs boot several times slower than under KVM`);
  await saveWorkspace(context, labFile, vagrantfile);
  if (existing) context.ui.info(`${name} is already declared with role ${role.name}; starting it`);
  await bringUp(context, labFile.lab, name);
}

/** The first time an image is about to boot on this host, find out whether KVM really works. */
async function probeKvmIfNeeded(context: Context, image: string): Promise<void> {
  const choice = parseDriverChoice(context.env.DRIVER, 'auto');
  if (choice !== 'auto' || (await readProbe(context.home)) || !(await kvmDeviceUsable())) return;
  const registry = new Registry(context.home);
  const record = await registry.get(image);
  if (!record) return;
  context.ui.info('probing whether KVM really works here (a short test boot)');
  const probe = await probeKvm(context, registry.boxFile(record));
  context.ui.info(probe.works ? 'KVM works: VMs run with hardware acceleration' : `KVM is unusable here (${probe.detail}): VMs use software emulation`);
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
