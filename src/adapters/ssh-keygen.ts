import type { Runner } from '../runner.js';

/** ssh-keygen: a machine's own SSH key pair, made on the host (milliseconds here, seconds in an emulated guest). */
export const sshKeygenArgs = {
  /** An ed25519 pair without a passphrase: <file> (private, 0600) and <file>.pub. */
  ed25519: (file: string, comment: string) => ['-q', '-t', 'ed25519', '-N', '', '-C', comment, '-f', file],
};

export async function generateKeyPair(runner: Runner, file: string, comment: string): Promise<void> {
  await runner.run('ssh-keygen', sshKeygenArgs.ed25519(file, comment));
}
