import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { parse } from 'yaml';
import { DEFAULT_LIBVIRT_URI } from '../adapters/virsh.js';
import type { Runner } from '../runner.js';

/**
 * Shell completion: the scripts `vmlab completion bash|zsh` prints, and the candidates the hidden
 * `vmlab __complete <index> -- <words>` answers with at completion time. The candidates read the lab
 * straight from its files (lab.yaml, roles/, images/, the registry's index.json) and never load the
 * workspace: a Tab must answer in a fraction of a second, and must not fail on a half-written lab.yaml.
 */

export type Shell = 'bash' | 'zsh';

export function completionScript(shell: Shell): string {
  if (shell === 'bash') {
    return `# vmlab completion for bash. Install: vmlab completion bash > ~/.local/share/bash-completion/completions/vmlab
# (or add to ~/.bashrc: source <(vmlab completion bash))
_vmlab() {
  local IFS=$'\\n' cur=\${COMP_WORDS[COMP_CWORD]}
  COMPREPLY=($("\${COMP_WORDS[0]}" __complete "$((COMP_CWORD - 1))" -- "\${COMP_WORDS[@]:1}" 2>/dev/null))
  [[ $cur == '=' ]] && COMPREPLY=($("\${COMP_WORDS[0]}" __complete "$((COMP_CWORD))" -- "\${COMP_WORDS[@]:1}" '' 2>/dev/null))
  return 0
}
complete -o default -F _vmlab vmlab
`;
  }
  return `#compdef vmlab
# vmlab completion for zsh. Install: vmlab completion zsh > "\${fpath[1]}/_vmlab" (then start a new shell),
# or add to ~/.zshrc after compinit: source <(vmlab completion zsh)
_vmlab() {
  local -a candidates
  candidates=("\${(@f)$("\${words[1]}" __complete "$((CURRENT - 2))" -- "\${(@)words[2,-1]}" 2>/dev/null)}")
  compadd -- "\${(@)candidates:#}"
}
if [[ \${zsh_eval_context[-1]} == loadautofunc ]]; then
  _vmlab "$@"
else
  compdef _vmlab vmlab
fi
`;
}

/** What completion knows of the CLI: each visible command with its options (global ones under ''). */
export type CommandTable = Map<string, string[]>;

/** The names the lab offers, read lazily (only what the word being completed needs). */
export interface LabNames {
  machines(): Promise<string[]>;
  groups(): Promise<string[]>;
  roles(): Promise<string[]>;
  images(): Promise<string[]>;
  snapshots(machine: string): Promise<string[]>;
}

const SNAPSHOT_ACTIONS = ['create', 'list', 'restore', 'delete'];
const SHELLS = ['bash', 'zsh'];

/** The option whose value a word is, by the kind of name it takes. */
const VALUE_KINDS: Record<string, keyof LabNames | 'none'> = {
  '--name': 'machines', '--source': 'machines', '--image': 'images', '--role': 'roles', '--group': 'groups', '--snap': 'snapshots',
  '--cmd': 'none', '-c': 'none', '--cpus': 'none', '--memory': 'none', '--disk': 'none', '--count': 'none', '--names': 'none',
  '--subnet': 'none', '--file': 'none', '--target': 'none', '--job': 'none',
};

/** Each command's positionals, by the kind of name they take. */
const POSITIONALS: Record<string, (keyof LabNames | 'actions' | 'shells')[]> = {
  create: ['roles'], start: ['machines'], stop: ['machines'], ssh: ['machines'], delete: ['machines'], export: ['machines'],
  clone: ['machines'], build: ['images'], 'image-rm': ['images'], snapshot: ['actions', 'machines'], 'create-group': ['groups'],
  completion: ['shells'],
};

/** The candidates for words[index] (words: what follows `vmlab`), those that start with what is typed. */
export async function completeWords(words: string[], index: number, commands: CommandTable, names: LabNames): Promise<string[]> {
  const current = words[index] ?? '';
  const before = words.slice(0, Math.max(0, index));
  const command = before.find((word) => !word.startsWith('-') && commands.has(word));
  const matching = (candidates: string[]) => [...new Set(candidates)].filter((candidate) => candidate.startsWith(current)).sort();
  const previous = before.at(-1);
  const kind = previous?.startsWith('-') && !previous.includes('=') ? VALUE_KINDS[previous] : undefined;
  const positional = command
    ? before.slice(before.indexOf(command) + 1).filter((word, at, rest) => !word.startsWith('-') && !(rest[at - 1]?.startsWith('-') && VALUE_KINDS[rest[at - 1]!] !== undefined))
    : [];
  // The machine whose snapshots are offered: snapshot <action> <name>, or --name.
  const machine = optionValue(words, '--name') ?? (command === 'snapshot' ? positional[1] : undefined);
  if (kind === 'none') return [];
  if (kind) return matching(await namesOf(kind, names, machine));
  if (current.startsWith('-')) return matching([...(commands.get('') ?? []), ...(command ? (commands.get(command) ?? []) : [])]);
  if (!command) return matching([...commands.keys()].filter(Boolean));
  const wanted = POSITIONALS[command]?.[positional.length];
  if (!wanted) return [];
  if (wanted === 'actions') return matching(SNAPSHOT_ACTIONS);
  if (wanted === 'shells') return matching(SHELLS);
  return matching(await namesOf(wanted, names, machine));
}

function optionValue(words: string[], option: string): string | undefined {
  const at = words.indexOf(option);
  if (at >= 0) return words[at + 1];
  return words.find((word) => word.startsWith(`${option}=`))?.slice(option.length + 1);
}

async function namesOf(kind: keyof LabNames, names: LabNames, machine: string | undefined): Promise<string[]> {
  if (kind === 'snapshots') return machine ? names.snapshots(machine.split(',')[0]!) : [];
  return names[kind]();
}

/** The lab's names from its files; anything unreadable is simply no candidates. */
export function labNames(options: { labDir: string; projectRoot: string; home: string; runner: Runner; env: NodeJS.ProcessEnv }): LabNames {
  type LabNamesFile = { name?: string; machines: Record<string, { group?: string }>; groups: Record<string, string[]> };
  let lab: Promise<LabNamesFile> | undefined;
  const readLab = () =>
    (lab ??= readFile(path.join(options.labDir, 'lab.yaml'), 'utf8')
      .then((text) => parse(text) as { name?: string; machines?: Record<string, { group?: string }>; groups?: Record<string, string[]> } | null)
      .then((data): LabNamesFile => ({ name: data?.name, machines: data?.machines ?? {}, groups: data?.groups ?? {} }))
      .catch((): LabNamesFile => ({ machines: {}, groups: {} })));
  const yamlNames = (dir: string) => readdir(dir).then((files) => files.filter((file) => file.endsWith('.yaml')).map((file) => file.slice(0, -5)), () => [] as string[]);
  return {
    machines: async () => Object.keys((await readLab()).machines),
    groups: async () => {
      const { machines, groups } = await readLab();
      return [...Object.keys(groups), ...Object.values(machines).flatMap((machine) => (machine && typeof machine.group === 'string' ? [machine.group] : []))];
    },
    roles: () => yamlNames(path.join(options.projectRoot, 'roles')),
    images: async () => {
      const registry = await readFile(path.join(options.home, 'images', 'index.json'), 'utf8')
        .then((text) => Object.keys((JSON.parse(text) as { images?: object }).images ?? {}))
        .catch(() => [] as string[]);
      const roleImages = await Promise.all(
        (await yamlNames(path.join(options.projectRoot, 'roles'))).map((role) =>
          readFile(path.join(options.projectRoot, 'roles', `${role}.yaml`), 'utf8').then((text) => String((parse(text) as { image?: unknown })?.image ?? ''), () => ''),
        ),
      );
      return [...registry, ...(await yamlNames(path.join(options.projectRoot, 'images'))), ...roleImages.filter(Boolean)];
    },
    snapshots: async (machine) => {
      const name = (await readLab()).name ?? 'lab';
      const result = await options.runner
        .run('virsh', ['-c', options.env.VMLAB_LIBVIRT_URI || DEFAULT_LIBVIRT_URI, 'snapshot-list', `vmlab-${name}-${machine}`, '--name'], { readOnly: true, check: false, timeoutMs: 3000 })
        .catch(() => ({ exitCode: 1, stdout: '' }));
      return result.exitCode === 0 ? result.stdout.split('\n').map((line) => line.trim()).filter(Boolean) : [];
    },
  };
}
