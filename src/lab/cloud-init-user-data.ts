import { isMap, isSeq, LineCounter, parseDocument } from 'yaml';
import type { ConfigIssue } from '../errors.js';

/*
 * A machine's cloud-init user-data (cloudInit: in lab.yaml): a #cloud-config file with {{ name }},
 * {{ address }}, {{ lab }} and {{ domain }} filled in, merged with what vmlab needs of every machine: the
 * vagrant user with the machine's own SSH key, its host name, one ed25519 host key, the guest agent. Pure.
 */

export interface UserDataValues {
  /** The machine's name (its host name). */
  name: string;
  /** Its address on the lab's private network, or "" without one. */
  address: string;
  /** The lab's name. */
  lab: string;
  /** The libvirt domain: vmlab-<lab>-<name>. */
  domain: string;
}

export const TEMPLATE_VARIABLES = ['name', 'address', 'lab', 'domain'] as const;

const PLACEHOLDER = /\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}/g;

/** Fill in the placeholders; an unknown one is an issue at its line. */
export function renderUserData(text: string, values: UserDataValues): { text: string; issues: ConfigIssue[] } {
  const issues: ConfigIssue[] = [];
  const lines = text.split('\n').map((line, index) =>
    line.replace(PLACEHOLDER, (whole, variable: string) => {
      if ((TEMPLATE_VARIABLES as readonly string[]).includes(variable)) return values[variable as keyof UserDataValues];
      issues.push({ path: '', line: index + 1, column: line.indexOf(whole) + 1, message: `unknown placeholder {{ ${variable} }}; known: ${TEMPLATE_VARIABLES.map((name) => `{{ ${name} }}`).join(', ')}` });
      return whole;
    }),
  );
  return { text: lines.join('\n'), issues };
}

/** The user-data as cloud-init will read it: a #cloud-config first line, then a YAML mapping. */
export function parseUserData(text: string): { config: Record<string, unknown>; issues: ConfigIssue[] } {
  const first = text.replace(/^\uFEFF/, '').split('\n', 1)[0]?.trimEnd() ?? '';
  if (first !== '#cloud-config') {
    const message = first.startsWith('#!')
      ? 'this is a script (#!); vmlab takes #cloud-config user-data only (put a script under runcmd:, or in provision: in lab.yaml)'
      : `the first line must be exactly "#cloud-config", not "${first.slice(0, 40)}"`;
    return { config: {}, issues: [{ path: '', line: 1, column: 1, message }] };
  }
  const lineCounter = new LineCounter();
  const document = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const issues: ConfigIssue[] = document.errors.map((error) => {
    const position = lineCounter.linePos(error.pos[0]);
    return { path: '', line: position.line, column: position.col, message: `not valid YAML: ${error.message.split('\n')[0]}` };
  });
  if (issues.length) return { config: {}, issues };
  if (document.contents !== null && !isMap(document.contents)) {
    const position = lineCounter.linePos(document.contents?.range?.[0] ?? 0);
    return { config: {}, issues: [{ path: '', line: position.line, column: position.col, message: 'user-data is a mapping of cloud-config modules (packages:, write_files:, runcmd: ...)' }] };
  }
  const config = (document.toJS() ?? {}) as Record<string, unknown>;
  for (const key of ['users', 'packages', 'runcmd', 'write_files'] as const) {
    const node = isMap(document.contents) ? document.contents.get(key, true) : undefined;
    if (node !== undefined && !isSeq(node)) {
      const position = lineCounter.linePos((node as { range?: number[] }).range?.[0] ?? 0);
      issues.push({ path: key, line: position.line, column: position.col, message: `${key}: is a list` });
    }
  }
  return { config, issues };
}

export interface VmlabNeeds {
  hostname: string;
  /** The machine's own public key (the vagrant user's only key from vmlab). */
  authorizedKey: string;
}

type UserEntry = string | Record<string, unknown>;

/** The vagrant user vmlab logs in as, with any extra keys or groups the user gave it. */
function vagrantUser(needs: VmlabNeeds, theirs: Record<string, unknown> | undefined): Record<string, unknown> {
  const extraKeys = Array.isArray(theirs?.ssh_authorized_keys) ? (theirs.ssh_authorized_keys as unknown[]).map(String) : [];
  return {
    ...(theirs ?? {}),
    name: 'vagrant',
    gecos: 'Vagrant',
    shell: '/bin/bash',
    sudo: 'ALL=(ALL) NOPASSWD:ALL',
    lock_passwd: true,
    ssh_authorized_keys: [needs.authorizedKey, ...extraKeys.filter((key) => key !== needs.authorizedKey)],
  };
}

/**
 * The user's config with vmlab's needs laid over it: the vagrant user (theirs extended, never replaced),
 * the host name, the guest agent among the packages. The user's own choices stand where vmlab needs
 * nothing (ssh_genkeytypes, for one).
 */
export function mergeUserData(config: Record<string, unknown>, needs: VmlabNeeds): string {
  const users = (Array.isArray(config.users) ? (config.users as UserEntry[]) : []).filter((user) => !(typeof user === 'object' && user?.name === 'vagrant'));
  const theirVagrant = (Array.isArray(config.users) ? (config.users as UserEntry[]) : []).find((user): user is Record<string, unknown> => typeof user === 'object' && user?.name === 'vagrant');
  const packages = Array.isArray(config.packages) ? (config.packages as unknown[]) : [];
  const merged: Record<string, unknown> = {
    // An RSA host key costs ~25 s of a first boot under software emulation; Vagrant speaks ed25519.
    ssh_genkeytypes: ['ed25519'],
    ...config,
    hostname: needs.hostname,
    preserve_hostname: false,
    manage_etc_hosts: 'localhost',
    users: [...users, vagrantUser(needs, theirVagrant)],
    packages: packages.includes('qemu-guest-agent') ? packages : [...packages, 'qemu-guest-agent'],
  };
  return `#cloud-config\n# Written by vmlab: the machine's cloudInit: user-data (if any) with the vagrant user, its key and host name.\n${JSON.stringify(merged, null, 2)}\n`;
}

export function seedMetaDataFor(domain: string, hostname: string, stamp: string): string {
  return `instance-id: ${domain}-${stamp}\nlocal-hostname: ${hostname}\n`;
}
