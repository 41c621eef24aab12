/**
 * Forwarded ports (`ports: ["8080:80", "127.0.0.1:5432:5432"]` on a machine), as Docker writes them:
 * [host address:]host port:guest port, TCP. Without an address the host port listens on every interface.
 * Pure: parsing, the clashes inside lab.yaml, and which declared ports a listening socket takes.
 */

export interface ForwardedPort {
  /** The host address the port listens on; 0.0.0.0 is every interface. */
  hostIp: string;
  hostPort: number;
  guestPort: number;
  /** As written in lab.yaml, for messages and make list. */
  spec: string;
}

export const PORT_RULE = 'a port is "HOST:GUEST" or "ADDRESS:HOST:GUEST" with ports 1-65535, e.g. "8080:80" or "127.0.0.1:5432:5432"';
export const ALL_INTERFACES = '0.0.0.0';

const PORT_SPEC = /^(?:(\d{1,3}(?:\.\d{1,3}){3}):)?(\d{1,5}):(\d{1,5})$/;

/** Why a port spec is wrong, or undefined when it is right. */
export function portProblem(spec: string): string | undefined {
  const match = PORT_SPEC.exec(spec.trim());
  if (!match) return `"${spec}" is not a forwarded port: ${PORT_RULE}`;
  const [, address, host, guest] = match;
  for (const [label, text] of [['host port', host], ['guest port', guest]] as const) {
    const port = Number(text);
    if (!Number.isInteger(port) || port < 1 || port > 65535 || String(port) !== text) return `"${spec}": the ${label} ${text} is out of range (1-65535)`;
  }
  if (address && !address.split('.').every((octet) => Number(octet) <= 255 && String(Number(octet)) === octet)) return `"${spec}": ${address} is not an IPv4 address`;
  return undefined;
}

export function parsePort(spec: string): ForwardedPort {
  const problem = portProblem(spec);
  if (problem) throw new Error(problem);
  const [, address, host, guest] = PORT_SPEC.exec(spec.trim())!;
  return { hostIp: address ?? ALL_INTERFACES, hostPort: Number(host), guestPort: Number(guest), spec };
}

/** Two forwards want the same host socket: the same port on the same address, or either on every interface. */
export function sameHostSocket(a: { hostIp: string; hostPort: number }, b: { hostIp: string; hostPort: number }): boolean {
  return a.hostPort === b.hostPort && (a.hostIp === b.hostIp || a.hostIp === ALL_INTERFACES || b.hostIp === ALL_INTERFACES);
}

/** Host ports declared twice in lab.yaml (on one machine or two), reported at the later entry. */
export function portClashes(machines: Record<string, { ports?: string[] }>): { path: (string | number)[]; message: string }[] {
  const seen: { machine: string; port: ForwardedPort }[] = [];
  const issues: { path: (string | number)[]; message: string }[] = [];
  for (const [machine, spec] of Object.entries(machines)) {
    for (const [index, text] of (spec.ports ?? []).entries()) {
      if (portProblem(text)) continue;
      const port = parsePort(text);
      const earlier = seen.find((entry) => sameHostSocket(entry.port, port));
      if (earlier) issues.push({ path: ['machines', machine, 'ports', index], message: `host port ${port.hostPort} is forwarded twice: here and by ${earlier.machine} ("${earlier.port.spec}")` });
      seen.push({ machine, port });
    }
  }
  return issues;
}

/** A listening TCP socket on the host and the program holding it (when the reader may see it). */
export interface ListeningSocket {
  address: string;
  port: number;
  /** "sshd (pid 812)", or undefined when the process is not visible (not root). */
  holder?: string;
  pid?: number;
}

/** The listening socket that takes a forward's host port, if any ([::] and * count as every interface). */
export function holderOf(port: ForwardedPort, listening: ListeningSocket[]): ListeningSocket | undefined {
  return listening.find((socket) => {
    const address = ['*', '::', '[::]'].includes(socket.address) ? ALL_INTERFACES : socket.address;
    return sameHostSocket({ hostIp: address, hostPort: socket.port }, port);
  });
}
