import { Virsh, virshArgs, type DomainState, type SnapshotRow } from '../adapters/virsh.js';
import { confirmOrRefuse } from '../confirm.js';
import type { Context } from '../context.js';
import { setGuestClock } from '../lab/guest-clock.js';
import { CommandError, UserError } from '../errors.js';
import { preflight } from '../host/preflight.js';
import type { Lab } from '../lab/lab-schema.js';
import { domainPrefix, requireMachine } from '../lab/resolve-machines.js';
import { hostContext, machinesByHost } from '../lab/host-context.js';
import { loadWorkspace, resolveMachines } from '../lab/workspace.js';
import { selectMachines as selectGroup } from './up.js';
import { renderTable } from '../ui/ui.js';

/**
 * `make snapshot NAME=web[,db] ACTION=create|list|restore|delete SNAP=<label>`: internal qcow2
 * snapshots of a machine's libvirt domain, through virsh. Every input is checked before anything
 * runs; every machine and label is checked before anything changes.
 */

export const SNAPSHOT_ACTIONS = ['create', 'list', 'restore', 'delete'] as const;
export type SnapshotAction = (typeof SNAPSHOT_ACTIONS)[number];

/** Labels become virsh arguments and libvirt metadata file names: no spaces, slashes or leading '-'. */
export const SNAPSHOT_LABEL = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
export const SNAPSHOT_LABEL_RULE = 'a letter or digit, then letters, digits, dots, underscores and hyphens, at most 64 characters';

export interface SnapshotOptions {
  action?: string;
  /** NAME: one machine, or several separated by commas. */
  name?: string;
  snap?: string;
  /** GROUP: every machine of a group in lab.yaml (instead of NAME). */
  group?: string;
}

export interface SnapshotRequest {
  action: SnapshotAction;
  machines: string[];
  /** Required for create, restore and delete; list ignores it. */
  label?: string;
}

const EXAMPLE = 'make snapshot NAME=web ACTION=create SNAP=before-upgrade';

export function parseSnapshotAction(action: string | undefined): SnapshotAction {
  const found = SNAPSHOT_ACTIONS.find((known) => known === action);
  if (!found) {
    const what = action ? `unknown snapshot ACTION ${JSON.stringify(action)}` : 'which ACTION? snapshot needs an ACTION';
    throw new UserError(`${what}: use one of ${SNAPSHOT_ACTIONS.join(', ')}`, `Example: ${EXAMPLE}`, 2);
  }
  return found;
}

export function checkSnapshotLabel(label: string): string {
  if (!SNAPSHOT_LABEL.test(label)) {
    throw new UserError(`invalid snapshot label ${JSON.stringify(label)}: use ${SNAPSHOT_LABEL_RULE}`, `Example: ${EXAMPLE}`, 2);
  }
  return label;
}

/** NAME=web or NAME=web,db: the machine names, in order, without repeats. */
export function parseMachineNames(names: string | undefined): string[] {
  const list = [...new Set((names ?? '').split(',').map((name) => name.trim()))];
  if (list.length === 0 || list.some((name) => name === '')) {
    throw new UserError(
      names ? `NAME ${JSON.stringify(names)} has an empty machine name` : 'which machine? snapshot needs a NAME',
      'Example: make snapshot NAME=web ACTION=list, or several: NAME=web,db',
      2,
    );
  }
  return list;
}

/** Every check of the user's input that needs nothing but the input. */
export function parseSnapshotRequest(options: SnapshotOptions): SnapshotRequest {
  const action = parseSnapshotAction(options.action || undefined);
  const snap = options.snap ?? '';
  if (action !== 'list' && snap === '') {
    throw new UserError(`which snapshot? snapshot ACTION=${action} needs SNAP=<label>`, `Example: make snapshot NAME=web ACTION=${action} SNAP=before-upgrade`, 2);
  }
  const label = snap === '' ? undefined : checkSnapshotLabel(snap);
  return { action, machines: parseMachineNames(options.name), label };
}

/** The machines a request acts on, each declared in lab.yaml. */
export function selectMachines(lab: Lab, request: Pick<SnapshotRequest, 'machines'>): string[] {
  for (const name of request.machines) requireMachine(lab, name);
  return request.machines;
}

export interface SnapshotTarget {
  machine: string;
  domain: string;
  state: DomainState;
  snapshots: SnapshotRow[];
}

/** The make command line for an action on some machines. */
export function snapshotCommandLine(action: SnapshotAction, machines: string[], label?: string): string {
  return `make snapshot NAME=${machines.join(',')} ACTION=${action}${label ? ` SNAP=${label}` : ''}`;
}

/** create: the targets that already have the label (create never overwrites). */
export function labelTaken(targets: SnapshotTarget[], label: string): SnapshotTarget[] {
  return targets.filter((target) => target.snapshots.some((row) => row.name === label));
}

/** restore, delete: the targets that lack the label. */
export function labelMissing(targets: SnapshotTarget[], label: string): SnapshotTarget[] {
  return targets.filter((target) => !target.snapshots.some((row) => row.name === label));
}

export function knownLabels(target: SnapshotTarget): string {
  return target.snapshots.length ? target.snapshots.map((row) => row.name).join(', ') : 'none';
}

/** The list as JSON: one machine gives its snapshots; several give each row with its machine. */
export function snapshotListData(targets: SnapshotTarget[]): object[] {
  if (targets.length === 1) return targets[0]?.snapshots.map(({ name, created, state }) => ({ name, created, state })) ?? [];
  return targets.flatMap((target) => target.snapshots.map(({ name, created, state }) => ({ machine: target.machine, name, created, state })));
}

export function renderSnapshotList(targets: SnapshotTarget[]): string {
  const take = `Take one: make snapshot NAME=${targets.map((target) => target.machine).join(',')} ACTION=create SNAP=<label>`;
  const empty = targets.filter((target) => target.snapshots.length === 0).map((target) => target.machine);
  if (empty.length === targets.length) return `${empty.join(', ')}: no snapshots. ${take}`;
  const several = targets.length > 1;
  const head = several ? ['MACHINE', 'SNAPSHOT', 'CREATED', 'STATE'] : ['SNAPSHOT', 'CREATED', 'STATE'];
  const rows = targets.flatMap((target) =>
    target.snapshots.map((row) => (several ? [target.machine, row.name, row.created, row.state] : [row.name, row.created, row.state])),
  );
  const table = renderTable(head, rows);
  return empty.length ? `${table}\nno snapshots: ${empty.join(', ')}` : table;
}

export async function snapshotCommand(context: Context, options: SnapshotOptions): Promise<void> {
  if (options.group && options.name) throw new UserError('snapshot takes NAME or GROUP, not both', `Example: make snapshot GROUP=${options.group} ACTION=list`, 2);
  const workspace = await loadWorkspace(context);
  const members = options.group ? selectGroup(workspace, { group: options.group }).map((machine) => machine.name).join(',') : options.name;
  const request = parseSnapshotRequest({ ...options, name: members });
  const machines = selectMachines(workspace.labFile.lab, request);
  // Snapshots live in the host's libvirt: the machines of one host at a time, through its URI.
  const hosts = machinesByHost(resolveMachines(workspace).filter((machine) => machines.includes(machine.name)));
  if (hosts.size > 1) {
    throw new UserError(
      `snapshot acts on the machines of one host at a time; these are on ${[...hosts].map(([host, members]) => `${host} (${members.map((machine) => machine.name).join(', ')})`).join(' and ')}`,
      `Host by host: ${[...hosts.values()].map((members) => `make snapshot NAME=${members.map((machine) => machine.name).join(',')} ACTION=${request.action}${request.label ? ` SNAP=${request.label}` : ''}`).join('; ')}`,
      2,
    );
  }
  const [first] = [...hosts.values()].flat();
  if (first) context = hostContext(context, first);
  await preflight(context, ['virsh']);
  const virsh = new Virsh(context.runner, context.libvirtUri);
  const targets = await findTargets(context, virsh, workspace.labFile.lab, machines);
  const label = request.label ?? '';
  switch (request.action) {
    case 'list':
      context.ui.result(snapshotListData(targets), () => renderSnapshotList(targets));
      return;
    case 'create':
      return createSnapshots(context, virsh, targets, label);
    case 'restore':
      return restoreSnapshots(context, virsh, targets, label);
    case 'delete':
      return deleteSnapshots(context, virsh, targets, label);
  }
}

/** Each machine's domain, its state and its snapshots; a machine without a domain is refused. */
async function findTargets(context: Context, virsh: Virsh, lab: Lab, machines: string[]): Promise<SnapshotTarget[]> {
  const domains = await virshStep(context, 'reading the domains (virsh list --all)', 'Check libvirt: make doctor', () => virsh.domains());
  const found = machines.map((machine) => {
    const domain = `${domainPrefix(lab)}${machine}`;
    const row = domains.find((candidate) => candidate.name === domain);
    if (!row) {
      throw new UserError(`${machine} is declared but has no VM; make start NAME=${machine}`, `Boot it (that creates its VM): make start NAME=${machine}, then retry`);
    }
    return { machine, domain, state: row.state };
  });
  return Promise.all(
    found.map(async (target) => ({
      ...target,
      snapshots: await virshStep(context, `listing the snapshots of ${target.machine}`, `Inspect: virsh -c ${context.libvirtUri} snapshot-list ${target.domain}`, () =>
        virsh.snapshots(target.domain),
      ),
    })),
  );
}

async function createSnapshots(context: Context, virsh: Virsh, targets: SnapshotTarget[], label: string): Promise<void> {
  const taken = labelTaken(targets, label);
  if (taken.length) {
    const names = taken.map((target) => target.machine);
    throw new UserError(
      `snapshot ${label} already exists on ${names.join(', ')}; vmlab never overwrites a snapshot`,
      `Pick another SNAP, or delete the old one first: ${snapshotCommandLine('delete', names, label)}`,
    );
  }
  const created: SnapshotTarget[] = [];
  for (const target of targets) {
    const progress = context.dryRun ? undefined : context.ui.progress(`${target.machine}: taking snapshot ${label} (${target.state})`);
    try {
      await virsh.change(virshArgs.snapshotCreateAs(target.domain, label));
    } catch (error) {
      progress?.fail(`${target.machine}: snapshot ${label} failed`);
      if (!(error instanceof CommandError)) throw error;
      const undone = await rollBack(context, virsh, created, label);
      const notTried = targets.slice(targets.indexOf(target) + 1).map((rest) => `${rest.machine}: not attempted`);
      throw new UserError(
        `snapshot ${label} of ${target.machine} failed: virsh exited with ${error.exitCode}${CommandError.tail(error.stderr, 6)}` +
          [...undone, ...notTried].map((line) => `\n  ${line}`).join(''),
        `Internal snapshots need qcow2 disks and BIOS (not UEFI) firmware. Inspect: virsh -c ${context.libvirtUri} dominfo ${target.domain}; ` +
          `then retry: ${snapshotCommandLine('create', targets.map((each) => each.machine), label)}`,
      );
    }
    created.push(target);
    progress?.succeed(`${target.machine}: snapshot ${label} created (VM ${target.state})`);
  }
}

/** Undo a partly done create: delete what this run created, newest first. Returns one line per machine. */
async function rollBack(context: Context, virsh: Virsh, created: SnapshotTarget[], label: string): Promise<string[]> {
  const lines: string[] = [];
  for (const target of [...created].reverse()) {
    try {
      await virsh.change(virshArgs.snapshotDelete(target.domain, label));
      lines.push(`${target.machine}: rolled back (snapshot ${label} deleted again)`);
    } catch (error) {
      if (!(error instanceof CommandError)) throw error;
      lines.push(`${target.machine}: could NOT roll back; delete it by hand: ${snapshotCommandLine('delete', [target.machine], label)} YES=1`);
    }
  }
  for (const line of lines) context.ui.info(line);
  return lines;
}

function refuseMissing(targets: SnapshotTarget[], label: string, action: SnapshotAction): void {
  const missing = labelMissing(targets, label);
  if (!missing.length) return;
  const known = missing.map((target) => `${target.machine}: ${knownLabels(target)}`).join('; ');
  throw new UserError(
    `no snapshot ${label} on ${missing.map((target) => target.machine).join(', ')} (known snapshots: ${known})`,
    `See them: ${snapshotCommandLine('list', missing.map((target) => target.machine))}; then ${action} one of them with SNAP=<label>`,
    2,
  );
}

async function restoreSnapshots(context: Context, virsh: Virsh, targets: SnapshotTarget[], label: string): Promise<void> {
  refuseMissing(targets, label, 'restore');
  const machines = targets.map((target) => target.machine);
  await confirmOrRefuse(context, `Restore ${machines.join(', ')} to snapshot ${label}? Everything since that snapshot is lost.`, {
    what: `restoring ${machines.join(', ')}`,
    command: snapshotCommandLine('restore', machines, label),
  });
  const done: string[] = [];
  for (const target of targets) {
    // The state now, not when the command started: the question above may have waited a while.
    const state = await virshStep(context, `reading the state of ${target.machine}`, `Inspect: virsh -c ${context.libvirtUri} domstate ${target.domain}`, () =>
      virsh.domainState(target.domain),
    );
    const running = state === 'running';
    await virshStep(
      context,
      `restoring ${target.machine} to snapshot ${label}${partial(done, 'restored')}`,
      `Inspect: virsh -c ${context.libvirtUri} snapshot-info ${target.domain} ${label}; then retry: ${snapshotCommandLine('restore', [target.machine], label)}`,
      () => virsh.change(virshArgs.snapshotRevert(target.domain, label, { running })),
    );
    done.push(target.machine);
    if (!context.dryRun) context.ui.info(`${target.machine}: restored to snapshot ${label}${running ? ' (kept running)' : ''}`);
    // A running VM comes back with the snapshot's clock: set it from the host's.
    if (running) await setGuestClock(context, virsh, target.machine, target.domain);
  }
}

async function deleteSnapshots(context: Context, virsh: Virsh, targets: SnapshotTarget[], label: string): Promise<void> {
  refuseMissing(targets, label, 'delete');
  const machines = targets.map((target) => target.machine);
  await confirmOrRefuse(context, `Delete snapshot ${label} of ${machines.join(', ')}?`, {
    what: `deleting snapshot ${label}`,
    command: snapshotCommandLine('delete', machines, label),
  });
  const done: string[] = [];
  for (const target of targets) {
    await virshStep(
      context,
      `deleting snapshot ${label} of ${target.machine}${partial(done, 'deleted on')}`,
      `Inspect: virsh -c ${context.libvirtUri} snapshot-info ${target.domain} ${label}; then retry: ${snapshotCommandLine('delete', [target.machine], label)} YES=1`,
      () => virsh.change(virshArgs.snapshotDelete(target.domain, label)),
    );
    done.push(target.machine);
    if (!context.dryRun) context.ui.info(`${target.machine}: snapshot ${label} deleted`);
  }
}

function partial(done: string[], verb: string): string {
  return done.length ? ` (already ${verb}: ${done.join(', ')})` : '';
}

/** A failed virsh call is a UserError with the tail of virsh's stderr and the next step; never exit 0. */
async function virshStep<T>(context: Context, what: string, hint: string, step: () => Promise<T>): Promise<T> {
  try {
    return await step();
  } catch (error) {
    if (error instanceof CommandError) {
      throw new UserError(`${what} failed: virsh exited with ${error.exitCode}${CommandError.tail(error.stderr, 6)}`, hint);
    }
    throw error;
  }
}

/**
 * `make delete`: libvirt refuses to undefine a domain that has internal snapshots, so a machine's
 * snapshots go first. Nothing to do when the domain does not exist; a dry run prints the argv.
 */
export async function deleteAllSnapshots(context: Context, machine: string, domain: string): Promise<void> {
  const virsh = new Virsh(context.runner, context.libvirtUri);
  let snapshots: SnapshotRow[];
  try {
    if (!(await virsh.domains()).some((row) => row.name === domain)) return;
    snapshots = await virsh.snapshots(domain);
  } catch (error) {
    if (context.dryRun && (error instanceof CommandError || error instanceof UserError)) {
      context.ui.warn(`could not read the snapshots of ${machine} (dry run: going on)`);
      return;
    }
    if (error instanceof CommandError) {
      throw new UserError(
        `listing the snapshots of ${machine} failed: virsh exited with ${error.exitCode}${CommandError.tail(error.stderr, 6)}`,
        `Inspect: virsh -c ${context.libvirtUri} snapshot-list ${domain}; ${machine} was not deleted`,
      );
    }
    throw error;
  }
  for (const snapshot of snapshots) {
    if (!context.dryRun) context.ui.info(`deleting snapshot ${snapshot.name} of ${machine}`);
    await virshStep(
      context,
      `deleting snapshot ${snapshot.name} of ${machine}`,
      `Inspect: virsh -c ${context.libvirtUri} snapshot-list ${domain}; ${machine} was not deleted; retry: make delete NAME=${machine}`,
      () => virsh.change(virshArgs.snapshotDelete(domain, snapshot.name)),
    );
  }
}
