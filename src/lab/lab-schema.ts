import { z } from 'zod';
import { IMAGE_NAME, IMAGE_NAME_RULE, MACHINE_NAME, MACHINE_NAME_RULE, ROLE_NAME } from '../names.js';
import { resourcesSchema } from '../roles/role-schema.js';
import { groupMembers, HOST_NAME, HOST_NAME_RULE, hostIssues } from './hosts.js';
import { labNetworks } from './networks.js';
import { dataDisksSchema, foldersSchema } from './storage-schema.js';
import { portClashes, portProblem } from './ports.js';

export const DRIVERS = ['auto', 'kvm', 'qemu'] as const;
export type DriverChoice = (typeof DRIVERS)[number];

/** Group and network names become parts of libvirt names and make variables: short and plain. */
export const GROUP_NAME = /^[a-z][a-z0-9-]{0,31}$/;
export const NETWORK_NAME = /^[a-z][a-z0-9-]{0,15}$/;
/** VMLAB_SECRET_<NAME>: the names a machine's provision scripts receive. */
export const SECRET_NAME = /^[A-Z][A-Z0-9_]{0,63}$/;

const IPV4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;
const validIpv4 = (text: string) => {
  const match = IPV4.exec(text);
  return Boolean(match) && match!.slice(1).every((octet) => Number(octet) <= 255 && String(Number(octet)) === octet);
};
const cidr = (text: string) => {
  const [address = '', prefix, ...rest] = text.split('/');
  return rest.length === 0 && validIpv4(address) && (prefix === undefined || (/^\d{1,2}$/.test(prefix) && Number(prefix) <= 32));
};

export const machineSchema = z
  .object({
    role: z.string().regex(ROLE_NAME, 'must name a role in roles/'),
    image: z.string().regex(IMAGE_NAME, `must be ${IMAGE_NAME_RULE}`).optional(),
    ...resourcesSchema.partial().shape,
    /** The group the machine belongs to (make up GROUP=..); groups: can name more. */
    group: z.string().regex(GROUP_NAME, 'group names are lowercase letters, digits and hyphens, at most 32').optional(),
    /** A static IPv4 address on a private network: 10.20.0.11/24, or 10.20.0.11 with network: */
    ip: z.string().refine(cidr, 'must be an IPv4 address, optionally with a prefix length: 10.20.0.11/24').optional(),
    /** One of the lab's networks: (the ip must lie inside it). */
    network: z.string().regex(NETWORK_NAME, 'must name one of the networks: in lab.yaml').optional(),
    /** Extra shell scripts run at first boot after the role's features, relative to lab.yaml's folder. */
    provision: z.array(z.string().min(1)).optional(),
    /** Names of VMLAB_SECRET_<NAME> variables that the provision scripts receive as <NAME>. */
    secrets: z.array(z.string().regex(SECRET_NAME, 'secret names are UPPERCASE_WITH_UNDERSCORES')).optional(),
    /** cloud-init user-data (#cloud-config, a template) for a machine on a cloud image, relative to lab.yaml's folder. */
    cloudInit: z.string().min(1).optional(),
    /** Shared folders (storage-schema.ts): host folder -> guest path, read-write. */
    folders: foldersSchema.optional(),
    /** Data disks besides the root disk (storage-schema.ts). */
    disks: dataDisksSchema.optional(),
    /** One of the lab's hosts: (hosts.ts); local when absent. */
    host: z.string().regex(HOST_NAME, `host names are ${HOST_NAME_RULE}`).optional(),
    /** Forwarded TCP ports, "8080:80" or "127.0.0.1:5432:5432" (ports.ts). */
    ports: z.array(z.string().superRefine((spec, context) => { const problem = portProblem(spec); if (problem) context.addIssue({ code: 'custom', message: problem }); })).optional(),
  })
  .strict();

const groupMemberList = z.array(z.string().regex(MACHINE_NAME, `machine names are ${MACHINE_NAME_RULE}`));

/** How much of the host running VMs may claim before vmlab refuses to start more (FORCE=1 overrides). */
export const admissionSchema = z
  .object({
    /** vCPUs of all running VMs, at most this many times the host's cores. */
    cpuOvercommit: z.number().positive().max(64).default(4),
    /** Memory of all running VMs, at most (host memory - reserve) times this. */
    memoryOvercommit: z.number().positive().max(16).default(1),
    /** MiB the host keeps for itself. */
    memoryReserve: z.number().int().min(0).default(2048),
    /** What new disks and box volumes can grow to, at most the pool's free space times this. */
    diskOvercommit: z.number().positive().max(64).default(1),
  })
  .strict();

export const labSchema = z
  .object({
    /** Part of every libvirt object name: vmlab-<name>-<machine>. */
    name: z.string().regex(/^[a-z][a-z0-9]{0,15}$/, 'lowercase letters and digits, at most 16').default('lab'),
    driver: z.enum(DRIVERS).default('auto'),
    admission: admissionSchema.default({}),
    /** Named private networks: name -> subnet (10.20.0.0/24). */
    networks: z
      .record(z.string().regex(NETWORK_NAME, 'network names are lowercase letters, digits and hyphens, at most 16'), z.string().refine((text) => cidr(text) && text.includes('/'), 'must be a subnet such as 10.20.0.0/24'))
      .default({}),
    /** Remote libvirt hosts: name -> URI (qemu+ssh://me@workstation/system); "local" always exists. */
    hosts: z.record(z.string().regex(HOST_NAME, `host names are ${HOST_NAME_RULE}`), z.string()).default({}),
    /** Groups: name -> its machines, or {machines: [..], host: ..} (a machine's group: adds it too). */
    groups: z
      .record(
        z.string().regex(GROUP_NAME, 'group names are lowercase letters, digits and hyphens, at most 32'),
        z.union([groupMemberList, z.object({ machines: groupMemberList, host: z.string().regex(HOST_NAME, `host names are ${HOST_NAME_RULE}`).optional() }).strict()]),
      )
      .default({}),
    machines: z
      .record(z.string().regex(MACHINE_NAME, `machine names are ${MACHINE_NAME_RULE}`), machineSchema)
      .nullable()
      .default({})
      .transform((machines) => machines ?? {}),
  })
  .strict()
  .superRefine((lab, context) => {
    // The rules that span fields, reported at the field that breaks them (with its line).
    for (const [group, entry] of Object.entries(lab.groups)) {
      for (const [index, member] of groupMembers(entry).entries()) {
        if (!lab.machines[member]) context.addIssue({ code: 'custom', path: Array.isArray(entry) ? ['groups', group, index] : ['groups', group, 'machines', index], message: `no machine named "${member}" under machines:` });
      }
      if (lab.machines[group]) context.addIssue({ code: 'custom', path: ['groups', group], message: `"${group}" is a machine's name too; name the group differently` });
    }
    for (const [name, machine] of Object.entries(lab.machines)) {
      if (machine.group && lab.machines[machine.group]) {
        context.addIssue({ code: 'custom', path: ['machines', name, 'group'], message: `"${machine.group}" is a machine's name; name the group differently` });
      }
      const dupes = (machine.secrets ?? []).filter((secret, index, all) => all.indexOf(secret) !== index);
      if (dupes.length) context.addIssue({ code: 'custom', path: ['machines', name, 'secrets'], message: `${dupes.join(', ')} listed twice` });
    }
    for (const issue of portClashes(lab.machines)) context.addIssue({ code: 'custom', path: issue.path, message: issue.message });
    for (const issue of labNetworks(lab).issues) context.addIssue({ code: 'custom', path: issue.path, message: issue.message });
    for (const issue of hostIssues(lab)) context.addIssue({ code: 'custom', path: issue.path, message: issue.message });
  });

export type Lab = z.infer<typeof labSchema>;
export type MachineSpec = z.infer<typeof machineSchema>;
export type Admission = z.infer<typeof admissionSchema>;
