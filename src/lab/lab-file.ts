import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { type Document, isMap, isScalar, isSeq, type LineCounter } from 'yaml';
import { writeFileAtomic } from '../atomic-write.js';
import { fileAccessError } from '../file-error.js';
import { locate, parseYaml } from '../yaml-file.js';
import { labSchema, type Lab, type MachineSpec } from './lab-schema.js';

/** A new lab is named after its folder (a short hash), so two checkouts never share libvirt names. */
export function newLabText(labDir: string, name = `lab${createHash('sha256').update(labDir).digest('hex').slice(0, 6)}`): string {
  return `# vmlab lab: the machines you declared.
# \`make create-<role> NAME=..\` and \`make delete NAME=..\` edit this file; your comments and order survive.
# The Vagrantfile is generated from it: edit this file, not the Vagrantfile.
# name: part of every libvirt object of this lab (vmlab-<name>-<machine>).
name: ${name}
machines: {}
`;
}

/**
 * lab.yaml, read through the yaml Document API so that edits keep the user's comments,
 * order and formatting. A missing file is an empty lab; a malformed one is an error, never reset.
 */
export class LabFile {
  private constructor(
    readonly file: string,
    readonly displayName: string,
    private document: Document,
    private data: Lab,
    readonly exists: boolean,
    private readonly lineCounter: LineCounter,
    /** lab.yaml was missing, or held nothing (empty, or only comments): a new lab in memory. */
    readonly vacant = false,
  ) {}

  /**
   * A missing or empty lab.yaml is a new lab, named `name` when given (the name vmlab remembers for this
   * folder), else after the folder. A lab.yaml that cannot be read is an error with its path, not a new lab.
   */
  static async load(file: string, displayName = 'lab.yaml', options: { name?: string; wholeFileHint?: string } = {}): Promise<LabFile> {
    let text: string | undefined;
    try {
      text = await readFile(file, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw fileAccessError(error, { what: displayName, verb: 'read', file }) ?? error;
    }
    const exists = text !== undefined;
    if (exists) {
      const loaded = parseYaml(text!, labSchema, displayName, options.wholeFileHint);
      if (loaded.document.contents !== null) return new LabFile(file, displayName, loaded.document, loaded.data, true, loaded.lineCounter);
    }
    const fresh = parseYaml(newLabText(path.dirname(file), options.name), labSchema, displayName);
    return new LabFile(file, displayName, fresh.document, fresh.data, exists, fresh.lineCounter, true);
  }

  get lab(): Lab {
    return this.data;
  }

  /** The line and column of a field, for messages about it. */
  position(path: (string | number)[]): { line: number; column: number } | undefined {
    return locate(this.document, this.lineCounter, path.map(String));
  }

  machine(name: string): MachineSpec | undefined {
    return this.data.machines[name];
  }

  /** A new LabFile with the machine added (in memory; save() writes it). */
  withMachine(name: string, spec: MachineSpec): LabFile {
    const document = this.document.clone();
    if (!isMap(document.get('machines', true))) document.set('machines', document.createNode({}));
    document.setIn(['machines', name], document.createNode(spec));
    const machines = document.get('machines', true);
    // A new lab says `machines: {}`; with an entry it should read as an ordinary block map.
    if (isMap(machines)) machines.flow = false;
    return this.rebuilt(document);
  }

  /** A new LabFile with a named network (networks: name: subnet) added. */
  withNetwork(name: string, subnet: string): LabFile {
    const document = this.document.clone();
    if (!isMap(document.get('networks', true))) document.set('networks', document.createNode({}));
    document.setIn(['networks', name], subnet);
    const networks = document.get('networks', true);
    if (isMap(networks)) networks.flow = false;
    return this.rebuilt(document);
  }

  withoutMachine(name: string): LabFile {
    const document = this.document.clone();
    document.deleteIn(['machines', name]);
    // A group that names it lets go of it too (an empty group stays: the user declared it).
    const groups = document.get('groups', true);
    if (isMap(groups)) {
      for (const pair of groups.items) {
        if (!isSeq(pair.value)) continue;
        const index = pair.value.items.findIndex((item) => isScalar(item) && item.value === name);
        if (index >= 0) pair.value.delete(index);
      }
    }
    return this.rebuilt(document);
  }

  toString(): string {
    return this.document.toString();
  }

  async save(): Promise<void> {
    await writeFileAtomic(this.file, this.toString());
  }

  private rebuilt(document: Document): LabFile {
    const reparsed = parseYaml(document.toString(), labSchema, this.displayName);
    return new LabFile(this.file, this.displayName, reparsed.document, reparsed.data, this.exists, reparsed.lineCounter, this.vacant);
  }
}
