import { vagrantArgs } from '../adapters/vagrant.js';
import { confirmOrRefuse } from '../confirm.js';
import type { Context } from '../context.js';
import { UserError } from '../errors.js';
import { removeIdleLabNetworks } from '../host/lab-networks.js';
import { preflight } from '../host/preflight.js';
import { hostContext, readLiveOnHosts } from '../lab/host-context.js';
import { freeSubnet, labNetworks } from '../lab/networks.js';
import { runMachines, renderOutcomes, type RunOutcome } from '../lab/parallel.js';
import { loadWorkspace, syncVagrantfile } from '../lab/workspace.js';
import { checkMachineName } from '../names.js';
import { requireRole } from '../roles/load-roles.js';
import { GROUP_NAME } from '../lab/lab-schema.js';
import type { LabFile } from '../lab/lab-file.js';
import { formatIpv4, parseCidr, parseRoutes } from '../host/routes.js';
import { removeLeftovers } from './delete.js';
import { deleteAllSnapshots } from './snapshot.js';
import { converge, selectMachines, type Selection } from './up.js';

/** make down [GROUP=..]: halt the running machines side by side. */
export async function downLab(context: Context, selection: Selection): Promise<void> {
  const workspace = await loadWorkspace(context);
  const machines = selectMachines(workspace, selection);
  await preflight(context);
  await syncVagrantfile(context);
  const live = await readLiveOnHosts(context, machines);
  const running = machines.filter((machine) => ['running', 'paused', 'in shutdown'].includes(live.get(machine.domain)?.state ?? ''));
  for (const machine of machines.filter((candidate) => !running.includes(candidate))) context.ui.info(`${machine.name}: ${live.get(machine.domain)?.state ?? 'not created'}, nothing to stop`);
  if (running.length === 0) return;
  const outcomes = await runMachines(context, 'halt', running.map((machine) => ({ name: machine.name, domain: machine.domain, args: vagrantArgs.halt(machine.name) })));
  finish(context, outcomes, 'halted', `make down${selection.group ? ` GROUP=${selection.group}` : ''}`);
}

/**
 * make destroy GROUP=.. YES=1: destroy the group's VMs side by side (their disks and snapshots too) and
 * keep them declared in lab.yaml, so that `make up GROUP=..` makes them again. Networks left without a
 * VM are removed afterwards (vagrant-libvirt leaves them when machines go in parallel).
 */
export async function destroyGroup(context: Context, selection: Selection): Promise<void> {
  if (!selection.group && !selection.names) throw new UserError('which machines? destroy needs a GROUP', 'Example: make destroy GROUP=k8s YES=1 (make delete NAME=.. removes one machine from lab.yaml too)', 2);
  const workspace = await loadWorkspace(context);
  const machines = selectMachines(workspace, selection);
  await confirmOrRefuse(context, `Destroy the VMs of ${machines.map((machine) => machine.name).join(', ')} (they stay in lab.yaml)?`, {
    what: `destroying group ${selection.group}`,
    command: `make destroy GROUP=${selection.group}`,
  });
  await preflight(context);
  await syncVagrantfile(context);
  const live = await readLiveOnHosts(context, machines);
  const existing = machines.filter((machine) => live.has(machine.domain));
  for (const machine of machines.filter((candidate) => !existing.includes(candidate))) context.ui.info(`${machine.name}: no VM, nothing to destroy`);
  for (const machine of existing) await deleteAllSnapshots(hostContext(context, machine), machine.name, machine.domain);
  const outcomes = existing.length ? await runMachines(context, 'destroy', existing.map((machine) => ({ name: machine.name, domain: machine.domain, args: vagrantArgs.destroy(machine.name) }))) : [];
  if (!context.dryRun) {
    for (const machine of existing.filter((candidate) => outcomes.find((outcome) => outcome.name === candidate.name)?.ok)) await removeLeftovers(hostContext(context, machine), machine.domain);
    await removeIdleLabNetworks(context, workspace.labFile.lab);
  }
  finish(context, outcomes, 'destroyed (still declared: make up GROUP=.. makes them again)', `make destroy GROUP=${selection.group} YES=1`);
}

function finish(context: Context, outcomes: RunOutcome[], done: string, retry: string): void {
  if (context.dryRun || outcomes.length === 0) return;
  if (outcomes.length > 1) context.ui.info(renderOutcomes(outcomes));
  const failed = outcomes.filter((outcome) => !outcome.ok);
  if (failed.length) {
    throw new UserError(`${failed.length} of ${outcomes.length} machines failed: ${failed.map((outcome) => outcome.name).join(', ')}`, `Their logs: ${failed.map((outcome) => outcome.log).join(' ')}. Retry: ${retry}`);
  }
  context.ui.info(`${outcomes.map((outcome) => outcome.name).join(', ')}: ${done}`);
}

export interface GroupRequest {
  group: string;
  role: string;
  /** The machines' names; or count: <group>-1 .. <group>-<count>. */
  names?: string[];
  count?: number;
  /** The group's network; a free 10.<n>.0.0/24 when not given. */
  subnet?: string;
  cpus?: number;
  memory?: number;
  disk?: number;
  image?: string;
  force?: boolean;
  setupIfNeeded?: boolean;
}

/**
 * make create-group GROUP=db ROLE=base COUNT=3 (make create-k8s-cluster is one): declare the machines
 * in lab.yaml with their group, a network of the group and a static address each (.11, .12, ...), then
 * bring them up side by side. lab.yaml is written only once every check has passed.
 */
export async function createGroup(context: Context, request: GroupRequest): Promise<void> {
  if (!GROUP_NAME.test(request.group)) throw new UserError(`invalid group name ${JSON.stringify(request.group)}: lowercase letters, digits and hyphens, at most 32`, 'Example: make create-group GROUP=db ROLE=base COUNT=3', 2);
  const names = request.names ?? Array.from({ length: request.count ?? 0 }, (_, index) => `${request.group}-${index + 1}`);
  if (names.length < 1 || names.length > 16) throw new UserError(`a group needs 1 to 16 machines, got ${names.length}`, 'Example: make create-group GROUP=db ROLE=base COUNT=3 (or NAMES=db-a,db-b)', 2);
  names.forEach((name) => checkMachineName(name));
  if (new Set(names).size !== names.length) throw new UserError(`a machine name is given twice: ${names.join(', ')}`, 'Give each machine its own name', 2);
  const workspace = await loadWorkspace(context);
  const role = requireRole(workspace.roles, request.role);
  const lab = workspace.labFile.lab;
  const taken = names.filter((name) => lab.machines[name]);
  if (taken.length) throw new UserError(`machines named ${taken.join(', ')} already exist`, `Bring the lab to lab.yaml instead: make up GROUP=${request.group}; or pick other NAMES`);
  if (Object.values(lab.machines).some((machine) => machine.group === request.group) || lab.groups[request.group]) {
    throw new UserError(`group ${request.group} exists already`, `Bring it up: make up GROUP=${request.group}; or pick another GROUP`);
  }
  const network = request.group.slice(0, 16).replace(/-+$/, '');
  const declared = lab.networks[network];
  if (declared && request.subnet && declared !== request.subnet) throw new UserError(`network ${network} exists with subnet ${declared}`, `Leave SUBNET out, or give ${declared}`, 2);
  const subnet = declared ?? request.subnet ?? freeSubnet([...labNetworks(lab).networks.map((entry) => entry.subnet), ...(await hostRoutes(context))]);
  if (!subnet) throw new UserError('no free 10.x.0.0/24 subnet for the group network', 'Give one: SUBNET=172.30.5.0/24', 2);
  const parsed = parseCidr(subnet);
  if (!parsed || !subnet.includes('/')) throw new UserError(`SUBNET ${JSON.stringify(subnet)} is not a subnet such as 10.20.0.0/24`, 'Example: SUBNET=10.20.0.0/24', 2);
  const sizes = Object.fromEntries(Object.entries({ cpus: request.cpus, memory: request.memory, disk: request.disk }).filter(([, value]) => value !== undefined));
  const change = (current: LabFile): LabFile => {
    const clash = names.filter((name) => current.machine(name));
    if (clash.length) throw new UserError(`machines named ${clash.join(', ')} were just declared by another command`, 'Pick other NAMES');
    let next = current.lab.networks[network] ? current : current.withNetwork(network, subnet);
    for (const [index, name] of names.entries()) {
      next = next.withMachine(name, {
        role: role.name,
        ...(request.image ? { image: request.image } : {}),
        ...sizes,
        group: request.group,
        network,
        ip: formatIpv4(parsed.base + 11 + index),
      });
    }
    return next;
  };
  await converge(context, { group: request.group, change, force: request.force, setupIfNeeded: request.setupIfNeeded, retry: `make up GROUP=${request.group}` });
}

async function hostRoutes(context: Context): Promise<string[]> {
  const routes = await context.runner.run('ip', ['-4', 'route', 'show'], { readOnly: true, check: false }).catch(() => ({ stdout: '' }));
  return parseRoutes(routes.stdout).map((route) => route.destination);
}

