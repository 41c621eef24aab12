import { UserError } from '../errors.js';
import type { ListeningSocket } from '../lab/ports.js';
import type { Runner } from '../runner.js';

/** ss (iproute2): the host's listening TCP sockets, with their processes where this user may see them. */
export const ssArgs = {
  listeningTcp: () => ['-H', '-t', '-l', '-n', '-p'],
};

/** `ss -Htlnp` lines: "LISTEN 0 128 127.0.0.1:5432 0.0.0.0:* users:(("postgres",pid=812,fd=5))". */
export function parseListening(stdout: string): ListeningSocket[] {
  const sockets: ListeningSocket[] = [];
  for (const line of stdout.split('\n')) {
    const fields = line.trim().split(/\s+/);
    const local = fields[3];
    if (!local) continue;
    const cut = local.lastIndexOf(':');
    const port = Number(local.slice(cut + 1));
    if (cut < 0 || !Number.isInteger(port)) continue;
    // "127.0.0.1%lo:53" names an interface after the address.
    const address = local.slice(0, cut).replace(/%.*$/, '');
    const user = /users:\(\("([^"]*)",pid=(\d+)/.exec(line);
    sockets.push({ address, port, ...(user ? { holder: `${user[1]} (pid ${user[2]})`, pid: Number(user[2]) } : {}) });
  }
  return sockets;
}

export async function listeningSockets(runner: Runner): Promise<ListeningSocket[]> {
  const result = await runner.run('ss', ssArgs.listeningTcp(), { readOnly: true, check: false });
  if (result.exitCode !== 0) {
    throw new UserError(`could not read the host's listening ports (ss exited with ${result.exitCode}): ${result.stderr.trim().split('\n')[0] ?? ''}`, 'ss comes with iproute2: apt-get install iproute2');
  }
  return parseListening(result.stdout);
}
