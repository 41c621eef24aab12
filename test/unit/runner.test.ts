import { describe, expect, it } from 'vitest';
import { createRunner } from '../../src/runner.js';

describe('the runner', () => {
  it('returns once a program has exited, with what it wrote, even while a process it left behind holds its output', async () => {
    const runner = createRunner({ dryRun: false, print: () => {} });
    // Like vagrant's ssh ProxyCommand to a halted guest: a grandchild that keeps stdout open for a long time.
    const result = await runner.run('bash', ['-c', 'sleep 60 & echo "$!"; echo done'], { readOnly: true });
    const [pid, last] = result.stdout.trim().split('\n');
    process.kill(Number(pid), 'SIGTERM');
    expect(result.exitCode).toBe(0);
    expect(last).toBe('done');
  }, 20_000);
});
