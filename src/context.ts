import path from 'node:path';
import { createInterface } from 'node:readline/promises';
import { fileURLToPath } from 'node:url';
import { DEFAULT_LIBVIRT_URI } from './adapters/virsh.js';
import { createRunner, type Runner } from './runner.js';
import { createUi, type Ui } from './ui/ui.js';

/** What every command receives: paths, the runner, the UI and the global switches. No singletons. */
export interface Context {
  /** Where roles/, scripts/, images/ and Vagrantfile.hbs live. */
  projectRoot: string;
  /** Where lab.yaml, the generated Vagrantfile and Vagrant's .vagrant/ live. */
  labDir: string;
  labFile: string;
  vagrantfile: string;
  /** The image registry and build queue (VMLAB_HOME). */
  home: string;
  libvirtUri: string;
  /** The lab's host (hosts: in lab.yaml) libvirtUri belongs to, when it is not this machine (host-context.ts). */
  host?: string;
  pool: string;
  runner: Runner;
  ui: Ui;
  env: NodeJS.ProcessEnv;
  dryRun: boolean;
  yes: boolean;
  /** Ask a yes/no question on the terminal; false when there is no terminal. */
  confirm(question: string): Promise<boolean>;
}

export interface GlobalOptions {
  dryRun?: boolean;
  json?: boolean;
  yes?: boolean;
  quiet?: boolean;
  verbose?: boolean;
}

export const PROJECT_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/**
 * Installed as a package (npm install -g), vmlab acts on the lab of the folder it is run in, with that
 * lab's .vmlab/; from a checkout (make, bin/vmlab) the checkout is the lab, as before.
 */
export function installedAsPackage(projectRoot: string): boolean {
  return projectRoot.split(path.sep).includes('node_modules');
}

export function createContext(options: GlobalOptions, env: NodeJS.ProcessEnv = process.env): Context {
  const projectRoot = env.VMLAB_PROJECT_ROOT ?? PROJECT_ROOT;
  const installed = installedAsPackage(projectRoot);
  const labDir = path.resolve(env.VMLAB_LAB_DIR || (installed ? process.cwd() : projectRoot));
  const ui = createUi({ json: options.json, quiet: options.quiet, verbose: options.verbose, env });
  return {
    projectRoot,
    labDir,
    labFile: path.join(labDir, 'lab.yaml'),
    vagrantfile: path.join(labDir, 'Vagrantfile'),
    home: path.resolve(env.VMLAB_HOME || path.join(installed ? labDir : projectRoot, '.vmlab')),
    libvirtUri: env.VMLAB_LIBVIRT_URI || DEFAULT_LIBVIRT_URI,
    pool: env.VMLAB_POOL || 'default',
    runner: createRunner({ dryRun: Boolean(options.dryRun), print: (line) => ui.out(line), verbose: options.verbose }),
    ui,
    env,
    dryRun: Boolean(options.dryRun),
    yes: Boolean(options.yes),
    confirm: (question) => askOnTerminal(question),
  };
}

async function askOnTerminal(question: string): Promise<boolean> {
  if (!process.stdin.isTTY) return false;
  const readline = createInterface({ input: process.stdin, output: process.stderr });
  try {
    const answer = await readline.question(`${question} [y/N] `);
    return /^y(es)?$/i.test(answer.trim());
  } finally {
    readline.close();
  }
}
