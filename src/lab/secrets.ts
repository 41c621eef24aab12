import { UserError } from '../errors.js';
import { secretVariable } from '../vagrantfile/vagrantfile-view.js';
import type { ResolvedMachine } from './resolve-machines.js';

/**
 * Secrets reach a VM only through the environment: `VMLAB_SECRET_<NAME>` in vmlab's environment, passed
 * on to vagrant, which hands it to the machine's provision scripts as <NAME>. vmlab never writes a value
 * anywhere (lab.yaml and the Vagrantfile name the variable only) and never puts one in an argv.
 *
 * Before machines are provisioned, every secret they declare must be set: a missing one stops the
 * command before anything changes.
 */
export function checkSecrets(machines: ResolvedMachine[], env: NodeJS.ProcessEnv): void {
  const missing = machines.flatMap((machine) =>
    machine.secrets.filter((name) => !env[secretVariable(name)]).map((name) => ({ machine: machine.name, variable: secretVariable(name) })),
  );
  if (missing.length === 0) return;
  const variables = [...new Set(missing.map((entry) => entry.variable))];
  throw new UserError(
    `secrets not set: ${missing.map((entry) => `${entry.variable} (for ${entry.machine})`).join(', ')}`,
    `Set them in the environment, not on the command line: read -rs ${variables[0]} && export ${variables[0]}; then retry`,
    2,
  );
}
