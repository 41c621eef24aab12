import type { Context } from '../context.js';
import { UserError } from '../errors.js';
import type { LabFile } from '../lab/lab-file.js';
import type { MachineSpec } from '../lab/lab-schema.js';
import { loadWorkspace, renderWorkspace } from '../lab/workspace.js';
import { checkImageName, checkMachineName } from '../names.js';
import { requireRole } from '../roles/load-roles.js';
import { resourcesSchema } from '../roles/role-schema.js';
import { zodIssues } from '../yaml-file.js';
import { imageForRole } from '../images/ensure-image.js';
import { checkLibvirt } from '../host/preflight.js';
import { LOCAL_HOST } from '../lab/hosts.js';
import { contextOfHost } from './hosts.js';
import { converge } from './up.js';

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
  /** Start even where the host's limits say no (FORCE=1). */
  force?: boolean;
  /** One of lab.yaml's hosts: (HOST=..); checked with the new entry like every other field. */
  host?: string;
}

/**
 * Declare a machine in lab.yaml and converge it: the image is built if needed, the host's room is checked,
 * and lab.yaml is written only once every check has passed. A machine that exists already just starts.
 */
export async function createMachine(context: Context, request: CreateRequest): Promise<void> {
  const name = checkMachineName(request.name || request.role);
  if (request.image) checkImageName(request.image);
  const sizes = { ...checkSizes(request), ...(request.host ? { host: request.host } : {}) };
  const workspace = await loadWorkspace(context);
  const role = requireRole(workspace.roles, request.role);

  const existing = workspace.labFile.machine(name);
  if (existing && request.host && (existing.host ?? 'local') !== request.host) {
    throw new UserError(`${name} is declared on host ${existing.host ?? 'local'}, not ${request.host}`, `Leave HOST= out to start it there, or delete it first: make delete NAME=${name} YES=1`, 2);
  }
  if (existing && existing.role !== role.name) {
    throw new UserError(
      `a machine named "${name}" already exists with role ${existing.role}`,
      `Pick another NAME, or remove it first: make delete NAME=${name} YES=1`,
    );
  }
  let change: ((labFile: LabFile) => LabFile) | undefined;
  if (existing) {
    context.ui.info(`${name} is already declared with role ${role.name}; starting it`);
  } else {
    // Validate the new entry (and render it) before anything else happens.
    await renderWorkspace(context, workspace, workspace.labFile.withMachine(name, { role: role.name, ...sizes }));
    // A remote host that does not answer is refused before an image is built for it.
    if (request.host && request.host !== LOCAL_HOST) await checkLibvirt(contextOfHost(context, workspace.labFile.lab.hosts, request.host));
    let pinned = request.image;
    if (!pinned) {
      const target = await imageForRole(context, role, { autoBuild: request.autoBuild !== false });
      if (target.fallback) {
        context.ui.info(`image ${role.image} is not built (AUTO_BUILD=0): ${name} boots ${target.image} and provisions the rest of ${role.name}'s features at first boot`);
        pinned = target.image;
      }
    }
    const spec: MachineSpec = { role: role.name, ...(pinned ? { image: pinned } : {}), ...sizes };
    change = (labFile) => {
      const now = labFile.machine(name);
      if (now && now.role !== role.name) throw new UserError(`a machine named "${name}" was just declared with role ${now.role} by another command`, 'Pick another NAME');
      return now ? labFile : labFile.withMachine(name, spec);
    };
  }
  const given = Object.entries({ IMAGE: request.image, ...Object.fromEntries(Object.entries(sizes).map(([key, value]) => [key.toUpperCase(), value])) })
    .filter(([, value]) => value !== undefined)
    .map(([key, value]) => ` ${key}=${value}`)
    .join('');
  await converge(context, { names: [name], change, force: request.force, setupIfNeeded: request.setupIfNeeded, retry: `make create-${role.name} NAME=${name}${given}` });
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
