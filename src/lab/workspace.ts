import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { writeFileAtomic } from '../atomic-write.js';
import type { Context } from '../context.js';
import { Virsh } from '../adapters/virsh.js';
import { ConfigError, type ConfigIssue, UserError } from '../errors.js';
import { withLock } from '../lock.js';
import { decideDriver, driverFromEnv, kvmDeviceUsable, parseDriverChoice, readProbe, type DriverDecision } from '../host/driver.js';
import { Registry } from '../images/registry.js';
import type { RegistryIndex } from '../images/registry-schema.js';
import { loadRoles } from '../roles/load-roles.js';
import type { Role } from '../roles/role-schema.js';
import { loadTemplate, renderVagrantfile } from '../vagrantfile/render-vagrantfile.js';
import { buildVagrantfileView } from '../vagrantfile/vagrantfile-view.js';
import { LabFile } from './lab-file.js';
import { type LastLab, recallLab, rememberLab } from './last-lab.js';
import { readMachineKeys } from './machine-keys.js';
import { checkCloudInit, readMachineSeeds } from './cloud-init-seed.js';
import { readBuiltImages } from './vagrant-machines.js';
import { checkFolders } from './storage-checks.js';
import { decideSharedFolders } from '../host/shared-folders.js';
import { featuresFromRoles, resolveLab, type ResolvedMachine } from './resolve-machines.js';

/** The lab as the commands see it: roles, lab.yaml, and the driver in force. */
export interface Workspace {
  roles: Map<string, Role>;
  labFile: LabFile;
  driver: DriverDecision;
  images: RegistryIndex;
  /** The image each existing VM was made from, by machine name (vagrant-machines.ts). */
  builtFrom: ReadonlyMap<string, string>;
}

export async function loadWorkspace(context: Context): Promise<Workspace> {
  const roles = await loadRoles(context.projectRoot);
  const recalled = await recallLab(context.home, context.labDir);
  const wholeFileHint = recalled ? restoreHint(context, recalled) : 'lab.yaml is YAML text such as "name: lab" and "machines:" (see the README)';
  const labFile = await LabFile.load(context.labFile, displayPath(context.labFile), { name: recalled?.name, wholeFileHint });
  if (labFile.vacant && recalled) await refuseHiddenLab(context, labFile, recalled);
  checkRoles(labFile, roles);
  await checkProvisionScripts(labFile);
  await checkCloudInit(labFile);
  await checkFolders(labFile);
  const choice = parseDriverChoice(driverFromEnv(context.env), labFile.lab.driver);
  const driver = decideDriver(choice, await readProbe(context.home), await kvmDeviceUsable());
  const [images, builtFrom] = await Promise.all([new Registry(context.home).read(), readBuiltImages(context.labDir)]);
  return { roles, labFile, driver, images, builtFrom };
}

/** lab.yaml as messages name it: relative to where the user is, or absolute when it lies elsewhere. */
function displayPath(file: string): string {
  const relative = path.relative(process.cwd(), file);
  return !relative ? 'lab.yaml' : relative.startsWith('..') ? file : relative;
}

function restoreHint(context: Context, recalled: LastLab): string {
  return `Put back the last lab.yaml vmlab wrote: cp ${recalled.copy} ${context.labFile}`;
}

/**
 * lab.yaml missing or emptied while this folder's lab still has VMs: going on would list nothing and let
 * the next create start over, leaving those VMs running with nothing to manage them. Refused, with the VMs
 * (which nothing declares now) and the way back.
 */
async function refuseHiddenLab(context: Context, labFile: LabFile, recalled: LastLab): Promise<void> {
  const domains = await new Virsh(context.runner, context.libvirtUri).domains().catch(() => undefined);
  const prefix = `vmlab-${recalled.name}-`;
  const ours = (domains ?? []).filter((domain) => domain.name.startsWith(prefix));
  if (!ours.length) return;
  const how = labFile.exists ? 'is empty' : 'is missing';
  throw new UserError(
    `${labFile.displayName} ${how}, but this folder's lab "${recalled.name}" still has VMs in libvirt, and nothing declares them now:\n` +
      ours.map((domain) => `  ${domain.name.padEnd(Math.max(...ours.map((row) => row.name.length)) + 2)}${domain.state}   undeclared`).join('\n') +
      '\nNothing was changed.',
    `${restoreHint(context, recalled)} (then: make list)`,
  );
}

/** Each machine's role must exist: reported at its line, with the machine's name and the known roles. */
function checkRoles(labFile: LabFile, roles: Map<string, Role>): void {
  const issues: ConfigIssue[] = [];
  for (const [name, machine] of Object.entries(labFile.lab.machines)) {
    if (roles.has(machine.role)) continue;
    issues.push({ path: `machines.${name}.role`, message: `unknown role "${machine.role}" for machine ${name}`, ...labFile.position(['machines', name, 'role']) });
  }
  if (issues.length) throw new ConfigError(labFile.displayName, issues, `Known roles: ${[...roles.keys()].sort().join(', ')} (make roles)`);
}

/** Each machine's provision: scripts must exist (relative to lab.yaml's folder) before anything runs. */
async function checkProvisionScripts(labFile: LabFile): Promise<void> {
  const issues: ConfigIssue[] = [];
  for (const [name, machine] of Object.entries(labFile.lab.machines)) {
    for (const [index, script] of (machine.provision ?? []).entries()) {
      const file = path.resolve(path.dirname(labFile.file), script);
      const found = await stat(file).then((info) => info.isFile(), () => false);
      if (!found) issues.push({ path: `machines.${name}.provision.${index}`, message: `no such script ${file}`, ...labFile.position(['machines', name, 'provision', index]) });
    }
  }
  if (issues.length) throw new ConfigError(labFile.displayName, issues, "Paths in provision: are relative to lab.yaml's folder.");
}

export function resolveMachines(workspace: Workspace, labFile = workspace.labFile): ResolvedMachine[] {
  const fromRoles = featuresFromRoles(workspace.roles);
  const imageFeatures = (image: string) => {
    const record = workspace.images.images[image];
    return record ? new Set(record.features) : fromRoles(image);
  };
  return resolveLab(labFile.lab, workspace.roles, imageFeatures, path.dirname(labFile.file), workspace.builtFrom);
}

export async function renderWorkspace(context: Context, workspace: Workspace, labFile = workspace.labFile): Promise<string> {
  const machines = resolveMachines(workspace, labFile);
  const view = buildVagrantfileView(machines, {
    labFile: 'lab.yaml',
    driver: workspace.driver.driver,
    pool: context.pool,
    labDir: context.labDir,
    projectRoot: context.projectRoot,
    keys: await readMachineKeys(context.home, machines.map((machine) => machine.domain)),
    seeds: await readMachineSeeds(context.home, machines.map((machine) => machine.domain)),
    boxVersions: new Map(Object.values(workspace.images.images).map((record) => [record.name, record.boxVersion])),
    sharedFolders: machines.some((machine) => (machine.folders ?? []).length) ? (await decideSharedFolders(context.env)).type : undefined,
  });
  return renderVagrantfile(await loadTemplate(context.projectRoot), view);
}

/**
 * Change lab.yaml and write it with the Vagrantfile, under the lab's lock and from lab.yaml as it is on
 * disk now: two commands at once (a create and a delete, two creates) each apply their own change to
 * what the other wrote, and neither is lost. Both texts are computed before either is written, so a bad
 * lab never leaves a half-updated pair. A dry run only says what it would write.
 */
export async function updateLab(context: Context, change: (labFile: LabFile) => LabFile = (labFile) => labFile): Promise<LabFile> {
  const apply = async () => {
    const workspace = await loadWorkspace(context);
    const next = change(workspace.labFile);
    await saveWorkspace(context, next, await renderWorkspace(context, workspace, next));
    return next;
  };
  return context.dryRun ? apply() : withLabLock(context, apply);
}

/** The Vagrantfile, rendered again from lab.yaml as it is now (before a vagrant command). */
export async function syncVagrantfile(context: Context): Promise<void> {
  await updateLab(context);
}

function withLabLock<R>(context: Context, action: () => Promise<R>): Promise<R> {
  return withLock(context.labDir, path.join(context.labDir, '.vmlab-lab.lock'), action);
}

async function saveWorkspace(context: Context, labFile: LabFile, vagrantfileText: string): Promise<void> {
  const labChanged = !labFile.exists || (await readText(context.labFile)) !== labFile.toString();
  const vagrantfileChanged = (await readText(context.vagrantfile)) !== vagrantfileText;
  if (context.dryRun) {
    if (labChanged) context.ui.out(`# would write ${context.labFile}`);
    if (vagrantfileChanged) context.ui.out(`# would write ${context.vagrantfile}`);
    return;
  }
  if (labChanged) await labFile.save();
  if (vagrantfileChanged) await writeFileAtomic(context.vagrantfile, vagrantfileText);
  // The lab's name and a copy of what lab.yaml now says, for the day lab.yaml is lost (refuseHiddenLab).
  if (labChanged || vagrantfileChanged) await rememberLab(context.home, context.labDir, labFile.lab.name, labFile.toString());
}

async function readText(file: string): Promise<string | undefined> {
  return readFile(file, 'utf8').catch(() => undefined);
}
