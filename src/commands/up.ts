import { vagrantArgs } from '../adapters/vagrant.js';
import { Virsh } from '../adapters/virsh.js';
import type { Context } from '../context.js';
import { UserError } from '../errors.js';
import { admit, machineClaims } from '../host/admission.js';
import { driverFromEnv, kvmDeviceUsable, parseDriverChoice, readProbe } from '../host/driver.js';
import { probeKvm } from '../host/kvm-probe.js';
import { checkNetworksAgainstHost } from '../host/lab-networks.js';
import { preflight } from '../host/preflight.js';
import { poolVolumePrefix } from '../images/vagrant-boxes.js';
import { Registry } from '../images/registry.js';
import { planLab, upToDate, type Plan, type Step } from '../lab/converge.js';
import { hostContext, machinesByHost, readLiveOnHosts } from '../lab/host-context.js';
import { clearInterruptedFirstUps, endFirstUp, interruptedFirstUps, startFirstUps } from '../lab/first-up.js';
import { runHealthChecks, renderCheckResults, type CheckResult } from '../lab/healthchecks.js';
import type { LabFile } from '../lab/lab-file.js';
import { readLiveDomains } from '../lab/live.js';
import { prepareMachineKeys } from '../lab/machine-keys.js';
import { checkPortsFree, clearStaleTunnels, restoreTunnels } from '../lab/port-forwards.js';
import { restoreSavedMachines } from '../lab/resume-saved.js';
import { checkCloudInitImages, prepareCloudInitSeeds } from '../lab/cloud-init-seed.js';
import { usedNetworks } from '../lab/networks.js';
import { failureDetail, runMachines, renderOutcomes, type MachineRun, type RunOutcome } from '../lab/parallel.js';
import type { ResolvedMachine } from '../lab/resolve-machines.js';
import { domainPrefix } from '../lab/resolve-machines.js';
import { checkSecrets } from '../lab/secrets.js';
import { growDisks, planDiskGrowth } from '../lab/disk-grow.js';
import { reportFolders } from '../lab/folders-report.js';
import { startInactiveNetworks } from '../lab/network-restart.js';
import { loadWorkspace, renderWorkspace, resolveMachines, updateLab, type Workspace } from '../lab/workspace.js';
import { StepBoard } from '../ui/steps.js';
import { renderTable } from '../ui/ui.js';
import { buildVagrantfileView, HOSTS_PROVISIONER, MANAGEMENT_NETWORK } from '../vagrantfile/vagrantfile-view.js';
import { buildImage } from './build.js';

/** Which machines a command acts on: a group, some names, or the whole lab. */
export interface Selection {
  group?: string;
  names?: string[];
}

export function selectMachines(workspace: Workspace, selection: Selection, labFile = workspace.labFile): ResolvedMachine[] {
  const all = resolveMachines(workspace, labFile);
  if (selection.group) {
    const members = all.filter((machine) => machine.groups.includes(selection.group!));
    if (members.length === 0) {
      const groups = [...new Set(all.flatMap((machine) => machine.groups))];
      throw new UserError(
        `no group named "${selection.group}" in lab.yaml`,
        groups.length ? `Groups: ${groups.join(', ')}. See: make plan` : 'Declare one: a group: on machines in lab.yaml, or make create-group GROUP=.. ROLE=.. COUNT=3',
        2,
      );
    }
    return members;
  }
  if (selection.names) {
    return selection.names.map((name) => {
      const machine = all.find((candidate) => candidate.name === name);
      if (!machine) throw new UserError(`no machine named "${name}" in lab.yaml`, all.length ? `Known machines: ${all.map((m) => m.name).join(', ')}` : 'Create one first: make create-base NAME=' + name, 2);
      return machine;
    });
  }
  return all;
}

async function currentPlan(context: Context, workspace: Workspace, machines: ResolvedMachine[], labFile: LabFile): Promise<Plan> {
  const live = await readLiveOnHosts(context, machines, machines.map((machine) => machine.domain));
  const interrupted = new Set((await interruptedFirstUps(context.home)).keys());
  return planLab(machines, live, domainPrefix(labFile.lab), resolveMachines(workspace, labFile).map((machine) => machine.domain), interrupted);
}

export function renderPlan(plan: Plan): string {
  const lines = [
    renderTable(
      ['MACHINE', 'GROUP', 'STATE', 'ACTION', 'DETAIL'],
      plan.steps.map((step) => [step.machine.name, step.machine.groups.join(',') || '-', step.state, step.kind, step.detail]),
    ),
  ];
  for (const entry of plan.undeclared) lines.push(`not in lab.yaml (left alone): ${entry.domain} (${entry.state})`);
  return lines.join('\n');
}

function planJson(plan: Plan) {
  return {
    upToDate: upToDate(plan),
    machines: plan.steps.map((step) => ({ name: step.machine.name, groups: step.machine.groups, state: step.state, action: step.kind, detail: step.detail })),
    undeclared: plan.undeclared,
  };
}

/** make plan [GROUP=..]: what `make up` would do, per machine; changes nothing. */
export async function showPlan(context: Context, selection: Selection): Promise<void> {
  const workspace = await loadWorkspace(context);
  await preflight(context, ['virsh']);
  const plan = await currentPlan(context, workspace, selectMachines(workspace, selection), workspace.labFile);
  context.ui.result(planJson(plan), () => {
    if (plan.steps.length === 0) return 'No machines in lab.yaml. Create one: make create-base NAME=dev';
    return `${renderPlan(plan)}\n${upToDate(plan) ? 'The lab is up to date: make up would change nothing.' : 'make up would take these steps.'}`;
  });
}

export interface ConvergeOptions extends Selection {
  force?: boolean;
  /**
   * The change the command makes to lab.yaml (a new machine, say): checked in memory first, written only
   * once every check has passed, and then applied to lab.yaml as it is at that moment.
   */
  change?: (labFile: LabFile) => LabFile;
  setupIfNeeded?: boolean;
  /** What to type to retry (named in refusals). */
  retry: string;
}

/**
 * Bring the selected machines to lab.yaml: create what is missing, start what is stopped, restart what
 * runs with other cpus/memory than declared. Every check (secrets, networks, host room) runs before
 * anything changes; the machines then go up side by side. Health checks run on the machines created.
 */
export async function converge(context: Context, options: ConvergeOptions): Promise<void> {
  const workspace = await loadWorkspace(context);
  const labFile = options.change ? options.change(workspace.labFile) : workspace.labFile;
  const lab = labFile.lab;
  const machines = selectMachines(workspace, options, labFile);
  // One converge per host, host after host, each against that host's libvirt (its plan, networks, room).
  const hosts = machinesByHost(machines);
  if (hosts.size > 1) {
    for (const [host, members] of hosts) {
      context.ui.info(`host ${host}: ${members.map((machine) => machine.name).join(', ')}`);
      await converge(hostContext(context, members[0]!), { ...options, group: undefined, names: members.map((machine) => machine.name) });
    }
    return;
  }
  if (machines[0] && hostContext(context, machines[0]) !== context) return converge(hostContext(context, machines[0]), options);
  await preflight(context, ['vagrant', 'virsh'], { setupIfNeeded: options.setupIfNeeded });
  // Render once before anything changes: a lab that cannot be rendered is refused untouched.
  await renderWorkspace(context, workspace, labFile);
  const plan = await currentPlan(context, workspace, machines, labFile);
  for (const entry of plan.undeclared) context.ui.warn(`${entry.domain} (${entry.state}) runs under libvirt but is not in lab.yaml: left alone`);
  const steps = plan.steps.filter((step) => step.kind !== 'nothing');
  const runningAsDeclared = plan.steps.filter((step) => step.kind === 'nothing').map((step) => step.machine);
  if (steps.length === 0) {
    if (options.change) await updateLab(context, options.change);
    await restoreTunnels(context, runningAsDeclared);
    const names = machines.map((machine) => machine.name);
    context.ui.info(names.length === 1 ? `${names[0]} is running, as declared: nothing to do` : 'The lab is up to date: nothing to do.');
    return;
  }
  const creating = steps.filter((step) => step.kind === 'create');
  checkSecrets(creating.map((step) => step.machine), context.env);
  checkCloudInitImages(labFile, creating.map((step) => step.machine), workspace.images, { unbuilt: 'allow' });
  await checkNetworksAgainstHost(context, lab, usedNetworks(steps.flatMap((step) => (step.machine.address ? [step.machine.address] : []))));
  const growth = await planDiskGrowth(context, labFile, steps, workspace.images);
  const claims = await machineClaims(context, steps.map((step) => ({ machine: step.machine, state: step.kind === 'create' ? 'to create' : step.kind === 'start' ? 'to start' : 'to restart', create: step.kind === 'create' })));
  await admit(context, claims, lab.admission, { force: options.force === true, retry: options.retry });
  await checkPortsFree(context, steps.map((step) => step.machine), options.retry);

  for (const image of [...new Set(creating.map((step) => step.machine.image))]) {
    await buildImage(context, image, { force: false, background: false });
    if (!context.dryRun) await probeKvmIfNeeded(context, image);
  }
  await prepareMachineKeys(context, creating.map((step) => step.machine));
  await prepareCloudInitSeeds(context, labFile, creating.map((step) => step.machine));
  const savedLab = await updateLab(context, options.change);
  const fresh = await loadWorkspace(context);
  if (fresh.driver.driver === 'qemu') context.ui.warn(`using ${fresh.driver.reason}; VMs boot several times slower than under KVM`);

  for (const step of steps) context.ui.info(`${step.machine.name}: ${step.kind}: ${step.detail}`);
  await clearStaleTunnels(context, steps.filter((step) => step.kind === 'start').map((step) => step.machine));
  await restoreTunnels(context, runningAsDeclared);
  const saved = steps.filter((step) => step.state === 'saved').map((step) => step.machine);
  await restoreSavedMachines(context, saved);
  const restarting = steps.filter((step) => step.kind === 'reconfigure');
  const halted = restarting.length ? await runMachines(context, 'halt', restarting.map((step) => haltRun(step.machine))) : [];
  const haltFailed = new Set(halted.filter((outcome) => !outcome.ok).map((outcome) => outcome.name));
  await growDisks(context, growth.filter((entry) => !haltFailed.has(entry.machine.name)));
  await reportFolders(context, steps.map((step) => step.machine));
  const runs = await upRuns(context, steps.filter((step) => !haltFailed.has(step.machine.name)));
  await startInactiveNetworks(context, runs.flatMap((run) => (run.creates ?? []).filter((thing) => thing.key.startsWith('network:')).map((thing) => thing.key.slice('network:'.length))));
  // Issue 13: a create killed outright is made again from scratch at the next up (first-up.ts).
  const firstUps = await firstUpRecords(context, creating);
  // One step display for the boot and the health checks that follow (none with VERBOSE=1 or a dry run).
  const board = context.ui.verbose || context.dryRun ? undefined : await StepBoard.open(context.ui, context.home, { action: 'up', names: runs.map((run) => run.name) });
  try {
    const outcomes = [...halted.filter((outcome) => !outcome.ok), ...(await runMachines(context, 'up', runs, { missing: await missingThings(context, runs), watchBoot: true, steps: board }))];
    if (context.dryRun) return;
    const removed = await removeStalledNewMachines(context, outcomes, creating);
    for (const outcome of outcomes) if (firstUps.has(outcome.domain) && (outcome.ok || removed.has(outcome.name))) await endFirstUp(context, outcome.domain);

    const created = creating.filter((step) => outcomes.some((outcome) => outcome.name === step.machine.name && outcome.ok)).map((step) => step.machine);
    await refreshHosts(context, created, resolveMachines(fresh, savedLab), plan);
    // A restored machine was running when vagrant saw it: vagrant made no port tunnels for it.
    await restoreTunnels(context, saved.filter((machine) => outcomes.some((outcome) => outcome.name === machine.name && outcome.ok)));
    const checks = await healthChecks(context, fresh, created, board);
    await board?.close(context.home);
    report(context, outcomes, checks, options.retry, removed);
  } finally {
    await board?.close();
  }
}

/**
 * Clear what interrupted first ups left, then record the first ups about to start; the domains recorded.
 * A first up that ends (well, or stalled and removed) forgets its record; one that failed keeps it, so
 * that the next up makes that never-finished machine again instead of taking its running domain as done.
 */
async function firstUpRecords(context: Context, creating: Step[]): Promise<Set<string>> {
  const interrupted = await interruptedFirstUps(context.home);
  const ours = creating.flatMap((step) => interrupted.get(step.machine.domain) ?? []);
  if (ours.length) {
    const live = await readLiveDomains(context, []);
    await clearInterruptedFirstUps(context, ours, new Set(live.keys()), async (records) => {
      await runMachines(context, 'destroy', records.map((record) => ({ name: record.machine, domain: record.domain, args: vagrantArgs.destroy(record.machine) })));
    });
  }
  const index = await new Registry(context.home).read();
  await startFirstUps(
    context,
    creating.map((step) => ({ machine: step.machine.name, domain: step.machine.domain, box: step.machine.box, boxVersion: index.images[step.machine.image]?.boxVersion })),
  );
  return new Set(creating.map((step) => step.machine.domain));
}

/**
 * A new machine that stalled in its first boot has nothing worth keeping and was never provisioned, so
 * it is removed, as vagrant removes a new machine whose first up is interrupted: a retry then starts
 * clean. A machine that existed before is left as it is. Returns the names of the machines removed.
 */
async function removeStalledNewMachines(context: Context, outcomes: RunOutcome[], creating: Step[]): Promise<Set<string>> {
  const isNew = new Set(creating.map((step) => step.machine.name));
  const stalled = outcomes.filter((outcome) => outcome.stall && isNew.has(outcome.name));
  if (stalled.length === 0) return new Set();
  context.ui.info(`removing the new VM${stalled.length > 1 ? 's' : ''} that stalled: ${stalled.map((outcome) => outcome.name).join(', ')}`);
  await runMachines(context, 'destroy', stalled.map((outcome) => ({ name: outcome.name, domain: outcome.domain, args: vagrantArgs.destroy(outcome.name) })));
  const live = await readLiveDomains(context, []);
  return new Set(stalled.filter((outcome) => !live.has(outcome.domain)).map((outcome) => outcome.name));
}

function haltRun(machine: ResolvedMachine): MachineRun {
  return { name: machine.name, domain: machine.domain, args: vagrantArgs.halt(machine.name) };
}

async function upRuns(context: Context, steps: Step[]): Promise<MachineRun[]> {
  const index = await new Registry(context.home).read();
  return steps.map((step) => {
    const record = index.images[step.machine.image];
    const box = record ? [{ key: `box:${poolVolumePrefix(step.machine.box)}${record.boxVersion}_`, label: `the pool volume of box ${step.machine.box}` }] : [];
    const networks = [MANAGEMENT_NETWORK.name, ...(step.machine.address ? [step.machine.address.network.libvirtName] : [])].map((name) => ({ key: `network:${name}`, label: `network ${name}` }));
    return {
      name: step.machine.name,
      domain: step.machine.domain,
      // A machine made now is provisioned; one that exists only if its first up never got that far.
      args: vagrantArgs.up(step.machine.name, { provision: 'unless-done' }),
      creates: [...(step.kind === 'create' ? box : []), ...networks],
      provisioners: provisionerCount(context, step.machine),
    };
  });
}

/** How many provisioners vagrant runs in a machine's first up, as its Vagrantfile block lists them. */
function provisionerCount(context: Context, machine: ResolvedMachine): number | undefined {
  try {
    const view = buildVagrantfileView([machine], { labFile: 'lab.yaml', driver: 'qemu', labDir: context.labDir, projectRoot: context.projectRoot }).machines[0];
    // The feature library is uploaded by a file provisioner of its own, before the shell ones.
    return view ? view.provisioners.length + (view.featureLib ? 1 : 0) : undefined;
  } catch {
    return undefined;
  }
}

/** The boxes not yet in the pool and the networks not yet defined, of those the runs would create. */
async function missingThings(context: Context, runs: MachineRun[]): Promise<Set<string>> {
  if (runs.length < 2 || context.dryRun) return new Set();
  const virsh = new Virsh(context.runner, context.libvirtUri);
  const [volumes, networks] = await Promise.all([virsh.volumes(context.pool), virsh.networks()]);
  const missing = new Set<string>();
  for (const { key } of runs.flatMap((run) => run.creates ?? [])) {
    const [kind, name = ''] = key.split(/:(.*)/s);
    if (kind === 'box' && !volumes.some((volume) => volume.name.startsWith(name))) missing.add(key);
    if (kind === 'network' && !networks.includes(name)) missing.add(key);
  }
  return missing;
}

/**
 * Machines made now know the others by name from their first boot; the machines that were already
 * running learn the new names here (their /etc/hosts block is rewritten).
 */
async function refreshHosts(context: Context, created: ResolvedMachine[], all: ResolvedMachine[], plan: Plan): Promise<void> {
  if (!created.some((machine) => machine.address)) return;
  const createdNames = new Set(created.map((machine) => machine.name));
  const running = new Set(plan.steps.filter((step) => step.state === 'running').map((step) => step.machine.domain));
  const live = await readLiveDomains(context, []);
  const others = all.filter((machine) => machine.address && !createdNames.has(machine.name) && (running.has(machine.domain) || live.get(machine.domain)?.state === 'running'));
  if (others.length === 0) return;
  context.ui.info(`telling ${others.map((machine) => machine.name).join(', ')} the new machines' addresses`);
  const outcomes = await runMachines(
    context,
    'hosts',
    others.map((machine) => ({ name: machine.name, domain: machine.domain, args: ['provision', machine.name, '--provision-with', HOSTS_PROVISIONER] })),
  );
  for (const outcome of outcomes.filter((entry) => !entry.ok)) context.ui.warn(`${outcome.name}: /etc/hosts not updated (see ${outcome.log})`);
}

async function healthChecks(context: Context, workspace: Workspace, machines: ResolvedMachine[], board?: StepBoard): Promise<CheckResult[]> {
  const results = await Promise.all(
    machines.map(async (machine) => {
      const steps = board?.machine(machine.name);
      steps?.begin('checks');
      const results = await runHealthChecks(context, machine.name, workspace.roles.get(machine.role)!);
      const passed = results.filter((result) => result.ok).length;
      if (passed === results.length) steps?.finish(`${passed}/${results.length} pass`);
      else steps?.fail(`${passed}/${results.length} pass`);
      return results;
    }),
  );
  return results.flat();
}

function report(context: Context, outcomes: RunOutcome[], checks: CheckResult[], retry: string, removed: ReadonlySet<string>): void {
  const failed = outcomes.filter((outcome) => !outcome.ok);
  if (outcomes.length > 1) context.ui.info(renderOutcomes(outcomes));
  // The step display said "checks 3/3 pass" already; the table shows which check failed, or every check with VERBOSE=1.
  if (checks.length && (context.ui.verbose || checks.some((check) => !check.ok))) context.ui.info(renderCheckResults(checks));
  if (failed.length) {
    const single = outcomes.length === 1 ? failed[0] : undefined;
    if (single?.stall) {
      const { name, domain, stall } = single;
      const log = `/var/log/libvirt/qemu/${domain}.log`;
      if (removed.has(name)) {
        throw new UserError(
          `${name} did not come up: ${stall.message}. vmlab stopped vagrant instead of letting it wait about 15 minutes, and removed the new VM; it stays declared in lab.yaml`,
          `See why in ${log}. Once the cause is fixed: ${retry}`,
        );
      }
      const next =
        stall.state === 'paused'
          ? `Once the cause is fixed, let it go on where it stopped: virsh -c ${context.libvirtUri} resume ${domain}`
          : `Once the cause is fixed: ${retry}`;
      throw new UserError(
        `${name} did not come up: ${stall.message}. vmlab stopped vagrant instead of letting it wait about 15 minutes; the VM is left as it is`,
        `Inspect: virsh -c ${context.libvirtUri} domstate --reason ${domain} and ${log}. ${next}; or remove it: make delete NAME=${name} YES=1`,
      );
    }
    if (single) {
      throw new UserError(
        `${single.name} did not come up (vagrant exited with ${single.exitCode}); it stays declared in lab.yaml${failureDetail(single)}`,
        `${single.tail.length ? `Read its log: ${single.log}` : "Read vagrant's output above"}. Retry: ${retry}; or remove it: make delete NAME=${single.name} YES=1`,
      );
    }
    throw new UserError(
      `${failed.length} of ${outcomes.length} machines failed: ${failed.map((outcome) => (outcome.stall ? `${outcome.name} (${outcome.stall.message}${removed.has(outcome.name) ? '; the new VM was removed' : ''})` : outcome.name)).join(', ')}` +
        failed.map((outcome) => (outcome.stall ? '' : failureDetail(outcome).replace(/^\n {2}/, `\n  ${outcome.name}: `))).join(''),
      `Their logs: ${failed.map((outcome) => outcome.log).join(' ')}. Retry: ${retry}`,
    );
  }
  const failing = checks.filter((check) => !check.ok);
  if (failing.length) {
    const machines = [...new Set(failing.map((check) => check.machine))];
    throw new UserError(
      `health checks failed on ${machines.join(', ')}: ${failing.map((check) => `${check.machine}: ${check.check}`).join('; ')}; the VM${machines.length > 1 ? 's stay' : ' stays'} up for inspection`,
      `Look inside: make ssh NAME=${machines[0]}; check again: make check NAME=${machines.join(',')}`,
    );
  }
  const names = outcomes.map((outcome) => outcome.name);
  context.ui.info(names.length === 1 ? `${names[0]} is up. Shell: make ssh NAME=${names[0]}` : `${names.join(', ')} are up.`);
}

/** The first time an image is about to boot on this host, find out whether KVM really works. */
async function probeKvmIfNeeded(context: Context, image: string): Promise<void> {
  const choice = parseDriverChoice(driverFromEnv(context.env), 'auto');
  if (choice !== 'auto' || (await readProbe(context.home)) || !(await kvmDeviceUsable())) return;
  const registry = new Registry(context.home);
  const record = await registry.get(image);
  if (!record) return;
  context.ui.info('probing whether KVM really works here (a short test boot)');
  const probe = await probeKvm(context, registry.boxFile(record));
  context.ui.info(probe.works ? 'KVM works: VMs run with hardware acceleration' : `KVM is unusable here (${probe.detail}): VMs use software emulation`);
}
