import { readFileSync } from 'node:fs';
import path from 'node:path';
import yargs, { type Argv } from 'yargs';
import { createContext, PROJECT_ROOT, type Context, type GlobalOptions } from './context.js';
import { UserError } from './errors.js';
import type { Selection } from './commands/up.js';

// Each command's module is imported when that command runs, not at start-up: a command then loads
// only what it uses (make list does not load the image builders, handlebars or the queue), which
// takes about a third off the start of every make target.

/** What a command handler reports back to main: the process exit code. */
export interface Outcome {
  exitCode: number;
}

type ContextFactory = (options: GlobalOptions) => Context;

/**
 * Builds the parser only; main.ts runs it. Tests build it too, with their own context factory.
 * Make targets pass user values as single argv words, and empty words mean "not given".
 */
export function buildCli(argv: string[], outcome: Outcome, makeContext: ContextFactory = createContext): Argv {
  const context = (args: Record<string, unknown>) =>
    makeContext({
      dryRun: args.dryRun === true,
      json: args.json === true,
      yes: args.yes === true,
      quiet: args.quiet === true,
      verbose: args.verbose === true,
    });
  return yargs(argv)
    .scriptName('vmlab')
    .usage('$0 <command> [options]\n\nVM labs on Vagrant + vagrant-libvirt. Most people use the make targets: make help')
    .option('dry-run', { type: 'boolean', describe: 'print the argv of every command that would change something, change nothing' })
    .option('json', { type: 'boolean', describe: 'machine-readable output' })
    .option('yes', { alias: 'y', type: 'boolean', describe: 'do not ask for confirmation' })
    .option('quiet', { alias: 'q', type: 'boolean', describe: 'only results and errors' })
    .option('verbose', { alias: 'v', type: 'boolean', describe: "print every external command before it runs and stream the tools' own output (vagrant, apt, builders)" })
    .middleware(async (args) => {
      const command = String(args._[0] ?? '');
      if (!command || args.help) return;
      const ctx = context(args);
      await (await import('./home-check.js')).requireHome(command, ctx.home, Boolean(ctx.env.VMLAB_HOME), (text) => ctx.ui.info(text));
    })
    .command(
      'create [role]',
      'declare a machine of a role in lab.yaml and bring it up',
      (y) =>
        y
          .positional('role', { type: 'string', describe: 'the role (make create-<role>)' })
          .option('name', { type: 'string', describe: 'machine name (default: the role name)' })
          .option('image', { type: 'string', describe: "image to boot (default: the role's image)" })
          .option('cpus', { type: 'string', describe: 'vCPUs' })
          .option('memory', { type: 'string', describe: 'memory in MiB' })
          .option('disk', { type: 'string', describe: 'disk in GiB' })
          .option('host', { type: 'string', describe: "one of lab.yaml's hosts: to run it on (default: local)" })
          .option('setup', { type: 'boolean', describe: 'set the host up first if it is not ready' })
          .option('force', { type: 'boolean', describe: "start even beyond the host's limits (FORCE=1)" })
          .option('auto-build', { type: 'boolean', default: true, describe: "build the role's image if missing (--no-auto-build: provision on first boot)" }),
      async (args) => {
        if (!args.role) throw new UserError('which role? create needs a role', 'Example: make create-docker NAME=web (roles: make roles)', 2);
        await (await import('./commands/create.js')).createMachine(context(args), {
          role: args.role,
          setupIfNeeded: args.setup === true,
          autoBuild: args.autoBuild !== false,
          force: args.force === true,
          name: args.name || undefined,
          image: args.image || undefined,
          cpus: wholeNumber('CPUS', args.cpus),
          memory: wholeNumber('MEMORY', args.memory),
          disk: wholeNumber('DISK', args.disk),
          host: args.host || undefined,
        });
      },
    )
    .command(
      'start [name]',
      'boot a declared machine (create it if it has no VM)',
      (y) => nameArg(y).option('force', { type: 'boolean', describe: "start even beyond the host's limits (FORCE=1)" }),
      async (args) => (await import('./commands/start.js')).startMachine(context(args), machineName(args.name, 'start'), { force: args.force === true }),
    )
    .command(
      'up',
      'bring the lab (or a group) to lab.yaml: create, start, reconfigure, side by side',
      (y) =>
        groupOption(y)
          .option('force', { type: 'boolean', describe: "start even beyond the host's limits (FORCE=1)" })
          .option('setup', { type: 'boolean', describe: 'set the host up first if it is not ready' }),
      async (args) => {
        const group = args.group || undefined;
        await (await import('./commands/up.js')).converge(context(args), { group, force: args.force === true, setupIfNeeded: args.setup === true, retry: `make up${group ? ` GROUP=${group}` : ''}` });
      },
    )
    .command('plan', 'what make up would do, per machine; changes nothing', groupOption, async (args) => (await import('./commands/up.js')).showPlan(context(args), { group: args.group || undefined }))
    .command('down', 'halt the running machines of the lab (or a group), side by side', groupOption, async (args) => (await import('./commands/group.js')).downLab(context(args), { group: args.group || undefined }))
    .command('destroy', "destroy a group's VMs side by side; they stay declared in lab.yaml", groupOption, async (args) =>
      (await import('./commands/group.js')).destroyGroup(context(args), { group: args.group || undefined }),
    )
    .command(
      'check',
      "run the roles' health checks in machines (NAME=a,b or GROUP=..)",
      (y) => groupOption(y).option('name', { type: 'string', describe: 'machine names, comma-separated' }),
      async (args) => {
        outcome.exitCode = await (await import('./commands/check.js')).checkMachines(context(args), selection(args.name, args.group));
      },
    )
    .command('resources', "who uses what on this host against the limits vmlab admits VMs by", {}, async (args) => (await import('./commands/resources.js')).showResources(context(args)))
    .command(
      'create-group [group]',
      'declare a group of machines of a role with a network and addresses, and bring them up side by side',
      (y) =>
        y
          .positional('group', { type: 'string', describe: 'the group name' })
          .option('role', { type: 'string', describe: 'the machines\' role' })
          .option('count', { type: 'string', describe: 'how many machines: <group>-1 .. <group>-<count>' })
          .option('names', { type: 'string', describe: 'the machines\' names, comma-separated (instead of count)' })
          .option('subnet', { type: 'string', describe: "the group network's subnet (default: a free 10.<n>.0.0/24)" })
          .option('image', { type: 'string', describe: "image to boot (default: the role's image)" })
          .option('cpus', { type: 'string', describe: 'vCPUs per machine' })
          .option('memory', { type: 'string', describe: 'memory per machine in MiB' })
          .option('disk', { type: 'string', describe: 'disk per machine in GiB' })
          .option('force', { type: 'boolean', describe: "start even beyond the host's limits (FORCE=1)" })
          .option('setup', { type: 'boolean', describe: 'set the host up first if it is not ready' }),
      async (args) => {
        if (!args.group || !args.role) throw new UserError('create-group needs GROUP and ROLE', 'Example: make create-group GROUP=db ROLE=base COUNT=3', 2);
        if (!args.count && !args.names) throw new UserError('create-group needs COUNT or NAMES', 'Example: make create-group GROUP=db ROLE=base COUNT=3', 2);
        await (await import('./commands/group.js')).createGroup(context(args), {
          group: args.group,
          role: args.role,
          count: wholeNumber('COUNT', args.count),
          names: args.names ? args.names.split(',').map((name) => name.trim()) : undefined,
          subnet: args.subnet || undefined,
          image: args.image || undefined,
          cpus: wholeNumber('CPUS', args.cpus),
          memory: wholeNumber('MEMORY', args.memory),
          disk: wholeNumber('DISK', args.disk),
          force: args.force === true,
          setupIfNeeded: args.setup === true,
        });
      },
    )
    .command('stop [name]', 'shut a machine down (vagrant halt)', nameArg, async (args) => (await import('./commands/stop.js')).stopMachine(context(args), machineName(args.name, 'stop')))
    .command(
      'ssh [name]',
      'a shell in a machine, or run --cmd and return its exit code',
      (y) => nameArg(y).option('cmd', { alias: 'c', type: 'string', describe: 'command to run instead of a shell' }),
      async (args) => {
        outcome.exitCode = await (await import('./commands/ssh.js')).sshMachine(context(args), machineName(args.name, 'ssh'), args.cmd || undefined);
      },
    )
    .command(
      'cp [source] [destination]',
      'copy files or directories between the host and a running machine (<name>:<path> on one side); returns the copy\'s exit code',
      (y) => y.positional('source', { type: 'string', describe: 'web:/var/log/syslog or a host path' }).positional('destination', { type: 'string', describe: 'a host path or web:/tmp/' }),
      async (args) => {
        outcome.exitCode = await (await import('./commands/cp.js')).copyFiles(context(args), args.source || undefined, args.destination || undefined);
      },
    )
    .command('console [name]', "attach to a running machine's serial console (Ctrl+] leaves it)", nameArg, async (args) => {
      outcome.exitCode = await (await import('./commands/console.js')).attachConsole(context(args), machineName(args.name, 'console'));
    })
    .command(
      'suspend [name]',
      'save running machines to disk with their memory (libvirt managed save); NAME may be web,db',
      (y) => groupOption(nameArg(y)),
      async (args) => (await import('./commands/suspend.js')).suspendMachines(context(args), selection(args.name, args.group)),
    )
    .command(
      'resume [name]',
      'bring saved machines back where they were',
      (y) => groupOption(nameArg(y)).option('force', { type: 'boolean', describe: "start even beyond the host's limits (FORCE=1)" }),
      async (args) => (await import('./commands/suspend.js')).resumeMachines(context(args), selection(args.name, args.group), { force: args.force === true }),
    )
    .command('delete [name]', 'destroy a machine and remove it from lab.yaml', nameArg, async (args) =>
      (await import('./commands/delete.js')).deleteMachine(context(args), machineName(args.name, 'delete')),
    )
    .command(
      'snapshot [action] [name]',
      "internal snapshots of a machine's VM: create, list, restore, delete (NAME may be web,db)",
      (y) =>
        groupOption(
          nameArg(y.positional('action', { type: 'string', describe: 'create, list, restore or delete' })).option('snap', {
            type: 'string',
            describe: 'snapshot label (create, restore, delete)',
          }),
        ),
      async (args) =>
        (await import('./commands/snapshot.js')).snapshotCommand(context(args), { action: args.action || undefined, name: args.name || undefined, snap: args.snap || undefined, group: args.group || undefined }),
    )
    .command('list', "the lab's machines with their state from libvirt", {}, async (args) => (await import('./commands/list.js')).listMachines(context(args)))
    .command(
      'graph',
      'draw the lab: machines, groups, networks and addresses, and the images they stand on (graphviz dot)',
      (y) => y.option('file', { type: 'string', describe: 'the picture to write; its extension is the format (default: lab.svg)' }),
      async (args) => (await import('./commands/graph.js')).graphLab(context(args), { file: args.file || undefined }),
    )
    .command('render', 'write the Vagrantfile from lab.yaml and the roles', {}, async (args) => (await import('./commands/render.js')).renderLab(context(args)))
    .command('roles', 'the roles and their defaults', {}, async (args) => (await import('./commands/roles.js')).listRoles(context(args)))
    .command('setup', 'install and start what the host lacks (idempotent)', {}, async (args) => (await import('./commands/host.js')).setup(context(args)))
    .command('doctor', 'check every prerequisite, with the fix for each', (y) => y.option('host', { type: 'string', describe: "one of lab.yaml's hosts: to check instead of this one" }), async (args) => {
      outcome.exitCode = await (await import('./commands/host.js')).doctor(context(args), args.host || undefined);
    })
    .command('hosts', "the lab's libvirt hosts: reachability, driver, capacity, use", {}, async (args) => (await import('./commands/hosts.js')).listHosts(context(args)))
    .command(
      'build [image]',
      'build an image unless it is up to date',
      (y) =>
        y
          .positional('image', { type: 'string', describe: 'the image to build' })
          .option('role', { type: 'string', describe: "build the role's image" })
          .option('force', { type: 'boolean', describe: 'rebuild even when up to date' })
          .option('background', { type: 'boolean', describe: 'queue the build and return at once (BG=1)' }),
      async (args) => {
        const ctx = context(args);
        const { loadRoles, requireRole } = await import('./roles/load-roles.js');
        const image = args.image || (args.role ? requireRole(await loadRoles(ctx.projectRoot), args.role).image : undefined);
        if (!image) throw new UserError('which image? build needs IMAGE or ROLE', 'Example: make build IMAGE=debian-12', 2);
        const { buildImage } = await import('./commands/build.js');
        const outcome = await buildImage(ctx, image, { force: args.force === true, background: args.background === true });
        // JSON=1 always answers: the job (BG=1), or that there was nothing to do.
        if (outcome === 'up to date' && ctx.ui.json) ctx.ui.result({ image, state: 'up to date' }, () => '');
      },
    )
    .command(
      'images',
      'the image registry (--tree: the lineage base -> role -> custom, with the machines on each)',
      (y) => y.option('tree', { type: 'boolean', describe: 'draw the lineage as a tree' }),
      async (args) => (await import('./commands/images.js')).listImages(context(args), { tree: args.tree === true }),
    )
    .command('queue', 'the build queue: each job with its step, percent and ETA', {}, async (args) => (await import('./commands/queue.js')).showQueue(context(args)))
    .command('queue-log [job]', "a build job's log", jobArg, async (args) =>
      (await import('./commands/queue.js')).showJobLog(context(args), jobId(args.job, 'queue-log')),
    )
    .command('queue-cancel [job]', 'cancel a queued or running build', jobArg, async (args) =>
      (await import('./commands/queue.js')).cancelQueueJob(context(args), jobId(args.job, 'queue-cancel')),
    )
    .command('worker', false, {}, async (args) => (await import('./commands/queue.js')).runWorkerCommand(context(args), (await import('./commands/build.js')).buildOne))
    .command('image-rm [image]', 'remove an image, its Vagrant box and its pool volumes', (y) => y.positional('image', { type: 'string', describe: 'the image to remove' }), async (args) => {
      if (!args.image) throw new UserError('which image? image-rm needs IMAGE', 'Example: make image-rm IMAGE=web-golden', 2);
      await (await import('./commands/images.js')).removeImage(context(args), args.image);
    })
    .command(
      'export [name]',
      "a machine's disk as a new image, without its identity (halts and restarts a running VM)",
      (y) =>
        nameArg(y)
          .option('target', { type: 'string', describe: 'name of the new image' })
          .option('file', { type: 'string', describe: 'also write the box to this file, to share it' })
          .option('force', { type: 'boolean', describe: 'replace an existing image (and FILE)' }),
      async (args) => (await import('./commands/export.js')).exportCommand(context(args), { name: args.name || undefined, target: args.target || undefined, file: args.file || undefined, force: args.force === true }),
    )
    .command(
      'image-import [file]',
      'register a Vagrant libvirt box from elsewhere as a custom image',
      (y) =>
        y
          .positional('file', { type: 'string', describe: 'the .box file' })
          .option('target', { type: 'string', describe: 'name of the new image' })
          .option('force', { type: 'boolean', describe: 'replace an existing image' }),
      async (args) => (await import('./commands/export.js')).importCommand(context(args), { file: args.file || undefined, target: args.target || undefined, force: args.force === true }),
    )
    .command(
      'clone [source] [target]',
      "a new machine from another's current disk, with its own identity",
      (y) =>
        y
          .positional('source', { type: 'string', describe: 'the machine to clone' })
          .positional('target', { type: 'string', describe: 'the new machine' })
          .option('force', { type: 'boolean', describe: "even beyond the host's limits (FORCE=1)" }),
      async (args) => (await import('./commands/clone.js')).cloneMachine(context(args), args.source || undefined, args.target || undefined, { force: args.force === true }),
    )
    .command('gc', 'list what vmlab made that nothing uses any more; --yes removes it', {}, async (args) => {
      outcome.exitCode = await (await import('./commands/gc.js')).gc(context(args), { verbose: args.verbose === true });
    })
    .command('images-verify', 'checksums, qemu-img check, boxes and pool volumes; orphans', {}, async (args) => {
      outcome.exitCode = await (await import('./commands/images.js')).verifyImages(context(args));
    })
    .command('completion [shell]', 'print the bash or zsh completion script (see the README to install it)', (y) => y.positional('shell', { type: 'string', choices: ['bash', 'zsh'], describe: 'the shell (default: from $SHELL)' }), async (args) => {
      const { completionScript } = await import('./ui/completion.js');
      process.stdout.write(completionScript(args.shell === 'zsh' || (!args.shell && /zsh$/.test(process.env.SHELL ?? '')) ? 'zsh' : 'bash'));
    })
    .command('__complete [index]', false, (y) => y.strict(false), async () => {
      // Hidden: the completion scripts call it at each Tab, as __complete <index> -- <words after vmlab>.
      const { completeWords, labNames } = await import('./ui/completion.js');
      const separator = argv.indexOf('--');
      const words = separator < 0 ? [] : argv.slice(separator + 1);
      const ctx = makeContext({});
      const candidates = await completeWords(words, Number(argv[1]) || 0, commandTable(), labNames(ctx));
      if (candidates.length) process.stdout.write(`${candidates.join('\n')}\n`);
    })
    .demandCommand(1, 'Give a command; see: vmlab --help (or make help)')
    .recommendCommands()
    .strict()
    .strictCommands()
    .help('help', 'show this help')
    .version('version', 'show the version of vmlab', packageVersion())
    // Off a terminal (a pipe, a file, a man-page generator) lines are not wrapped at all: no word is broken.
    .wrap(process.stdout.isTTY ? Math.min(110, process.stdout.columns || 100) : null)
    .exitProcess(false)
    .fail((message, error) => {
      if (error) throw error;
      throw new UserError(message, 'See: vmlab --help (or make help)', 2);
    });
}

/** The version in the package's package.json (read once, at --version). */
function packageVersion(): string {
  try {
    return (JSON.parse(readFileSync(path.join(PROJECT_ROOT, 'package.json'), 'utf8')) as { version?: string }).version ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

/** Each visible command and its options, from the parser itself (global options under ''). */
function commandTable(): Map<string, string[]> {
  const parser = buildCli([], { exitCode: 0 }) as Argv & { getInternalMethods(): { getCommandInstance(): { getCommandHandlers(): Record<string, { description: string | false; builder: unknown }> } } };
  const flags = (keys: string[]) => keys.filter((key) => key.length > 1 && !/[A-Z]/.test(key) && key !== '$0').map((key) => `--${key}`);
  const table = new Map<string, string[]>([['', [...flags(Object.keys((parser as unknown as { getOptions(): { key: object } }).getOptions().key)), '-h']]]);
  for (const [name, handler] of Object.entries(parser.getInternalMethods().getCommandInstance().getCommandHandlers())) {
    if (handler.description === false) continue;
    const scratch = yargs([]);
    if (typeof handler.builder === 'function') (handler.builder as (y: Argv) => unknown)(scratch);
    table.set(name, flags(Object.keys((scratch as unknown as { getOptions(): { key: object } }).getOptions().key)).filter((flag) => !['--help', '--version'].includes(flag)));
  }
  return table;
}

function jobArg<T>(y: Argv<T>) {
  return y.positional('job', { type: 'string', describe: 'the job id (make queue lists them)' });
}

function jobId(job: string | undefined, command: string): string {
  if (!job) throw new UserError(`which job? ${command} needs JOB`, `See the jobs: make queue; then: make ${command} JOB=<id>`, 2);
  return job;
}

function groupOption<T>(y: Argv<T>) {
  return y.option('group', { type: 'string', describe: 'a group of machines in lab.yaml' });
}

function selection(names: string | undefined, group: string | undefined): Selection {
  if (names && group) throw new UserError('give NAME or GROUP, not both', 'Example: make check GROUP=k8s', 2);
  if (group) return { group };
  return names ? { names: [...new Set(names.split(',').map((name) => name.trim()).filter(Boolean))] } : {};
}

function nameArg<T>(y: Argv<T>) {
  return y.positional('name', { type: 'string', describe: 'machine name' });
}

function machineName(name: string | undefined, command: string): string {
  if (!name) throw new UserError(`which machine? ${command} needs a NAME`, `Example: make ${command} NAME=web`, 2);
  return name;
}

/** Each size's unit and an example that is accepted (MEMORY=2 would be refused: it is in MiB, 256 or more). */
const WHOLE_NUMBERS: Record<string, { unit: string; example: number }> = {
  CPUS: { unit: 'vCPUs', example: 2 },
  MEMORY: { unit: 'MiB', example: 2048 },
  DISK: { unit: 'GiB', example: 20 },
  COUNT: { unit: 'machines', example: 3 },
};

function wholeNumber(label: string, value: string | undefined): number | undefined {
  if (value === undefined || value === '') return undefined;
  if (!/^-?\d+$/.test(value.trim())) {
    const unit = WHOLE_NUMBERS[label];
    throw new UserError(`${label} must be a whole number${unit ? ` of ${unit.unit}` : ''}, got ${JSON.stringify(value)}`, `Example: ${label}=${unit?.example ?? 2}`, 2);
  }
  return Number(value);
}
