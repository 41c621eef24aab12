import path from 'node:path';
import type { MachineKey } from '../lab/machine-keys.js';
import type { ResolvedMachine } from '../lab/resolve-machines.js';
import type { SharedFolderType } from '../host/shared-folders.js';
import { dataDiskProvisioner, dataDiskViews, folderViews } from './storage-view.js';
import { remoteHostView } from './remote-host-view.js';

/** Everything the template needs, already decided: the template holds no logic. */
export interface VagrantfileView {
  labFile: string;
  machines: MachineView[];
}

export interface MachineView {
  name: string;
  box: string;
  /**
   * The version this lab's registry has of the box: several checkouts on a host share the box store, and
   * without a version Vagrant would make a new VM from whichever build is the newest there.
   */
  boxVersion: string | null;
  /** Set by Vagrant after boot (one SSH round trip) only for a machine without a vmlab identity. */
  hostname: string | null;
  /**
   * The machine's own SSH key and the SMBIOS OEM strings that hand its public half and its host name to
   * the guest before its first boot (the image's vmlab-identity unit); null: Vagrant swaps its insecure key.
   */
  identity: { privateKeyPath: string; oemStrings: string[] } | null;
  /** The machine's cloud-init NoCloud seed in the pool (machines on cloud images: cloud-init-seed.ts). */
  cloudInitSeed: string | null;
  driver: 'kvm' | 'qemu';
  /** The machine's libvirt host when it is not this one (hosts: in lab.yaml); null: vagrant-libvirt's default. */
  libvirtUri: string | null;
  /** The libvirt storage pool of the box volume and the VM's disk (vmlab reads the same one). */
  storagePool: string;
  domainPrefix: string;
  cpus: number;
  memory: number;
  disk: number;
  bootTimeout: number;
  network: { name: string; address: string };
  /** A static address on one of the lab's private networks (isolated, no DHCP), if the machine has one. */
  privateNetwork: { ip: string; netmask: string; name: string } | null;
  /** Forwarded TCP ports: vagrant-libvirt runs one ssh -L per port while the machine runs. */
  forwardedPorts: { hostIp: string; host: number; guest: number }[];
  /** Uploaded before the features when there are any (see scripts/features/lib/common.sh). */
  featureLib: { source: string; destination: string } | null;
  provisioners: ProvisionerView[];
  /** Shared folders (folders: in lab.yaml) with the way they are shared (host/shared-folders.ts). */
  folders: { host: string; guest: string; virtiofs: boolean }[];
  /** virtiofs needs the guest's memory shared with virtiofsd (set only on machines with folders). */
  sharedMemory: boolean;
  /** Data disks (disks: in lab.yaml), vdb onwards: size in vagrant-libvirt's words ("20G") and serial. */
  dataDisks: { size: string; serial: string }[];
}

export interface ProvisionerView {
  name: string;
  path: string;
  /**
   * The script's environment: a literal value, or (secrets) the name of a variable that vagrant reads from
   * its own environment when the provisioner runs, so that the Vagrantfile never holds the value.
   */
  env: { key: string; value: string | null; variable: string | null }[];
}

/** The provisioner that writes the lab's addresses into /etc/hosts; `vagrant provision --provision-with` names it. */
export const HOSTS_PROVISIONER = 'vmlab-hosts';
export const CLOUD_INIT_PROVISIONER = 'vmlab-cloud-init';

export interface ViewOptions {
  labFile: string;
  driver: 'kvm' | 'qemu';
  /** The storage pool (VMLAB_POOL, default "default"). */
  pool?: string;
  /** Provision script paths are written relative to this folder (the Vagrantfile's). */
  labDir: string;
  /** Where scripts/ lives (for the hosts script). */
  projectRoot: string;
  /** The machines' own SSH keys, by domain (machine-keys.ts); a machine without one keeps Vagrant's swap. */
  keys?: ReadonlyMap<string, MachineKey>;
  /** The registry's version of each image's box, by image name. */
  boxVersions?: ReadonlyMap<string, string>;
  /** The machines' cloud-init seeds, by domain. */
  seeds?: ReadonlyMap<string, string>;
  /** How folders: are shared on this host (host/shared-folders.ts); virtiofs unless told. */
  sharedFolders?: SharedFolderType;
}

const FEATURE_LIB_IN_GUEST = '/tmp/vmlab-feature-lib.sh';

function featureLibrary(featureScript: string): string {
  return path.join(path.dirname(featureScript), 'lib', 'common.sh');
}

/** scripts/lab/hosts.sh, next to scripts/features/ */
function hostsScript(projectRoot: string): string {
  return path.join(projectRoot, 'scripts', 'lab', 'hosts.sh');
}

function literal(entry: { key: string; value: string }): ProvisionerView['env'][number] {
  return { ...entry, variable: null };
}

export function secretVariable(name: string): string {
  return `VMLAB_SECRET_${name}`;
}

function relativeTo(dir: string, file: string): string {
  return path.relative(dir, file) || file;
}

export const MANAGEMENT_NETWORK = { name: 'vmlab-mgmt', address: '192.168.123.0/24' };

/** A systemd credential in an SMBIOS OEM string: PID 1 imports it into /run/credentials/@system (smbios-type-11(7)). */
function credential(name: string, value: string): string {
  return `io.systemd.credential:${name}=${value}`;
}

function identityView(machine: ResolvedMachine, key: MachineKey | undefined): Pick<MachineView, 'hostname' | 'identity'> {
  if (!key) return { hostname: machine.name, identity: null };
  return {
    hostname: null,
    identity: { privateKeyPath: key.privateKey, oemStrings: [credential('vmlab.hostname', machine.name), credential('vmlab.authorized-key', key.publicKey)] },
  };
}

export function buildVagrantfileView(machines: ResolvedMachine[], options: ViewOptions): VagrantfileView {
  return {
    labFile: options.labFile,
    machines: machines.map((machine) => ({
      name: machine.name,
      box: machine.box,
      boxVersion: options.boxVersions?.get(machine.image) ?? null,
      ...identityView(machine, options.keys?.get(machine.domain)),
      cloudInitSeed: options.seeds?.get(machine.domain) ?? null,
      driver: options.driver,
      ...remoteHostView(machine.hostUri),
      storagePool: options.pool ?? 'default',
      domainPrefix: machine.domainPrefix,
      cpus: machine.cpus,
      memory: machine.memory,
      disk: machine.disk,
      // Software emulation boots several times slower than KVM.
      bootTimeout: options.driver === 'qemu' ? 900 : 300,
      network: MANAGEMENT_NETWORK,
      privateNetwork: machine.address
        ? { ip: machine.address.address, netmask: machine.address.network.netmask, name: machine.address.network.libvirtName }
        : null,
      forwardedPorts: machine.ports.map((port) => ({ hostIp: port.hostIp, host: port.hostPort, guest: port.guestPort })),
      featureLib: machine.provision.length
        ? { source: relativeTo(options.labDir, featureLibrary(machine.provision[0]!.script)), destination: FEATURE_LIB_IN_GUEST }
        : null,
      provisioners: [
        // cloud-init applies the user-data while Vagrant already logs in: the machine is ready when it is done.
        ...(options.seeds?.has(machine.domain) ? [{ name: CLOUD_INIT_PROVISIONER, path: relativeTo(options.labDir, path.join(options.projectRoot, 'scripts', 'lab', 'cloud-init-wait.sh')), env: [] }] : []),
        ...machine.provision.map((feature) => ({
          name: `feature-${feature.name}`,
          path: relativeTo(options.labDir, feature.script),
          env: [
            { key: 'VMLAB_FEATURE_LIB', value: FEATURE_LIB_IN_GUEST },
            ...Object.entries(machine.settings)
              .sort(([a], [b]) => a.localeCompare(b))
              .map(([key, value]) => ({ key: `VMLAB_${key.toUpperCase()}`, value })),
          ].map(literal),
        })),
        ...(machine.hosts.length
          ? [{ name: HOSTS_PROVISIONER, path: relativeTo(options.labDir, hostsScript(options.projectRoot)), env: [literal({ key: 'VMLAB_HOSTS', value: machine.hosts.join(';') })] }]
          : []),
        // Before the lab's own scripts, so that they find the data disks mounted.
        ...dataDiskProvisioner(machine, (file) => relativeTo(options.labDir, path.join(options.projectRoot, file))),
        ...machine.scripts.map((script, index) => ({
          name: `lab-${index + 1}-${path.basename(script).replace(/[^A-Za-z0-9._-]/g, '_')}`,
          path: relativeTo(options.labDir, script),
          env: machine.secrets.map((name) => ({ key: name, value: null, variable: secretVariable(name) })),
        })),
      ],
      ...folderViews(machine, options.sharedFolders ?? 'virtiofs'),
      dataDisks: dataDiskViews(machine),
    })),
  };
}
