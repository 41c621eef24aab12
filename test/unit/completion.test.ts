import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { completeWords, completionScript, type CommandTable, type LabNames } from '../../src/ui/completion.js';

const commands: CommandTable = new Map([
  ['', ['--dry-run', '--json', '--quiet', '--verbose', '--help']],
  ['create', ['--role', '--name', '--image', '--cpus']],
  ['create-group', ['--group', '--role', '--count']],
  ['start', ['--name', '--force']],
  ['snapshot', ['--action', '--name', '--group', '--snap']],
  ['up', ['--group', '--force']],
  ['build', ['--image', '--role']],
  ['completion', ['--shell']],
]);

const names: LabNames = {
  machines: async () => ['web', 'db'],
  groups: async () => ['front', 'k8s'],
  roles: async () => ['base', 'docker', 'k8s'],
  images: async () => ['debian-12', 'docker', 'web-golden'],
  snapshots: async (machine) => (machine === 'web' ? ['before-upgrade', 'clean'] : []),
};

describe('completion candidates', () => {
  it.each([
    { words: ['cr'], index: 0, expected: ['create', 'create-group'] },
    { words: [''], index: 0, expected: ['build', 'completion', 'create', 'create-group', 'snapshot', 'start', 'up'] },
    { words: ['create', ''], index: 1, expected: ['base', 'docker', 'k8s'] },
    { words: ['create', 'docker', '--na'], index: 2, expected: ['--name'] },
    { words: ['create', '--role', 'd'], index: 2, expected: ['docker'] },
    { words: ['start', ''], index: 1, expected: ['db', 'web'] },
    { words: ['start', '--'], index: 1, expected: ['--dry-run', '--force', '--help', '--json', '--name', '--quiet', '--verbose'] },
    { words: ['up', '--group', ''], index: 2, expected: ['front', 'k8s'] },
    { words: ['build', 'd'], index: 1, expected: ['debian-12', 'docker'] },
    { words: ['snapshot', ''], index: 1, expected: ['create', 'delete', 'list', 'restore'] },
    { words: ['snapshot', 'restore', ''], index: 2, expected: ['db', 'web'] },
    { words: ['snapshot', 'restore', 'web', '--snap', ''], index: 4, expected: ['before-upgrade', 'clean'] },
    { words: ['snapshot', 'restore', '--name', 'web', '--snap', 'c'], index: 5, expected: ['clean'] },
    { words: ['create', '--cpus', ''], index: 2, expected: [] },
    { words: ['completion', ''], index: 1, expected: ['bash', 'zsh'] },
  ])('$words at $index -> $expected', async ({ words, index, expected }) => {
    expect(await completeWords(words, index, commands, names)).toEqual(expected);
  });
});

describe('completion scripts', () => {
  it('bash: a valid script that asks the hidden subcommand and registers for vmlab', async () => {
    const script = completionScript('bash');
    expect(script).toContain('__complete');
    expect(script).toMatch(/^complete -o default -F _vmlab vmlab$/m);
    const check = await execa('bash', ['-n'], { input: script, reject: false });
    expect(check.exitCode, check.stderr).toBe(0);
  });

  it('bash: pressing Tab after "vmlab start " offers what the hidden subcommand answers', async () => {
    // A stand-in vmlab that echoes its arguments shows exactly what the function passes and how it reads the answer.
    const script = `${completionScript('bash')}
vmlab() { printf '%s\\n' "index=$2" "$4" "$5"; }
COMP_WORDS=(vmlab start we); COMP_CWORD=2; _vmlab; printf '[%s]' "\${COMPREPLY[@]}"`;
    const result = await execa('bash', ['-c', script], { reject: false });
    expect(result.stdout).toBe('[index=1][start][we]');
  });

  it('zsh: a compdef file that works from fpath or sourced', () => {
    const script = completionScript('zsh');
    expect(script.split('\n')[0]).toBe('#compdef vmlab');
    expect(script).toContain('__complete');
    expect(script).toContain('compdef _vmlab vmlab');
  });
});
