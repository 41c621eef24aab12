import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { buildThroughQueue, cancelQueueJob, showJobLog, showQueue } from '../../src/commands/queue.js';
import { createContext, type Context } from '../../src/context.js';
import { cancelJob } from '../../src/queue/cancel-job.js';
import { enqueue } from '../../src/queue/enqueue.js';
import { loadQueue } from '../../src/queue/load-queue.js';
import type { Job } from '../../src/queue/queue-schema.js';
import { startDetachedWorker } from '../../src/queue/start-worker.js';
import { runWorker } from '../../src/queue/worker.js';
import { createUi } from '../../src/ui/ui.js';
import { fakeBuildOne, queueWorkerArgv, spawnQueueWorker } from '../support/fakes.js';

let root: string;
let output: string;
let context: Context;
beforeEach(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'vmlab-queue-cli-'));
  output = '';
  const stream = new PassThrough();
  stream.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const env = { ...process.env, VMLAB_HOME: path.join(root, 'home'), VMLAB_LAB_DIR: root, NO_COLOR: '1', CI: 'true' };
  context = { ...createContext({}, env), ui: createUi({ stdout: stream, stderr: stream, env }) };
});
afterEach(async () => rm(root, { recursive: true, force: true }));

const workerEnv = (extra: Record<string, string> = {}) => ({ VMLAB_HOME: context.home, VMLAB_LAB_DIR: root, NO_COLOR: '1', CI: 'true', ...extra });

async function waitFor(what: string, check: (jobs: Job[]) => boolean, timeoutMs = 90_000): Promise<Job[]> {
  for (const end = Date.now() + timeoutMs; Date.now() < end; await sleep(50)) {
    const jobs = await loadQueue(context, () => true);
    if (check(jobs)) return jobs;
  }
  throw new Error(`timed out waiting for ${what}: ${JSON.stringify(await loadQueue(context, () => true))}`);
}

describe('the build queue, driven through its handlers', { timeout: 180_000 }, () => {
  it('make build runs the worker itself: the parent job, then the child, each with its log', async () => {
    const built: string[] = [];
    const job = await buildThroughQueue(context, ['debian-12', 'docker'], { force: false, background: false, buildOne: fakeBuildOne({}, built), pollMs: 20 });
    expect(built).toEqual(['debian-12', 'docker']);
    const jobs = await loadQueue(context);
    expect(jobs.map((candidate) => [candidate.image, candidate.state, candidate.percent])).toEqual([['debian-12', 'done', 100], ['docker', 'done', 100]]);
    expect(job).toMatchObject({ image: 'docker', state: 'done', dependsOn: [jobs[0]?.id] });
    const log = await readFile(job?.logFile as string, 'utf8');
    expect(log).toMatch(/STEP 1\/2 fake step 1 \(0%\)/);
    expect(log).toMatch(/fake builder output for docker, step 2/);
    expect(log).toMatch(/fake build of docker finished/);
    expect(output).toMatch(/job j-\w+: docker built in \d+s/);
  });

  it('a failing parent fails the child; make build says so and names the parent log', async () => {
    const failure = buildThroughQueue(context, ['debian-12', 'docker'], { force: false, background: false, buildOne: fakeBuildOne({ FAKE_BUILD_FAIL: 'debian-12' }), pollMs: 20 });
    await expect(failure).rejects.toMatchObject({
      message: expect.stringMatching(/image docker failed: dependency j-\w+ failed \(image debian-12: building image debian-12 failed \(exit 1\)\)/),
      hint: expect.stringMatching(/Log: .*logs\/j-\w+\.log\. Retry: make build IMAGE=docker/),
    });
    const [parent, child] = await loadQueue(context);
    expect(parent).toMatchObject({ state: 'failed', error: 'building image debian-12 failed (exit 1)' });
    expect(child).toMatchObject({ state: 'failed', error: `dependency ${parent?.id} failed` });
    expect(await readFile(parent?.logFile as string, 'utf8')).toMatch(/error: building image debian-12 failed/);
  });

  it('a worker killed with SIGKILL mid-job leaves an interrupted job; a retry builds the image', async () => {
    const queued = await enqueue(context, ['debian-12'], { force: false });
    const worker = await spawnQueueWorker(root, workerEnv({ FAKE_BUILD_STEPS: '100', FAKE_BUILD_STEP_MS: '100' }));
    await waitFor('the job to run', (jobs) => jobs[0]?.state === 'running' && (jobs[0].percent ?? 0) > 0);
    worker.kill('SIGKILL');
    await once(worker, 'exit');
    const [interrupted] = await loadQueue(context);
    expect(interrupted).toMatchObject({ id: queued.id, state: 'failed', error: `interrupted (worker ${worker.pid} is gone)` });
    await showQueue(context);
    expect(output).toMatch(new RegExp(`${queued.id}\\s+debian-12\\s+failed\\s+interrupted \\(worker ${worker.pid} is gone\\)`));
    const retry = await buildThroughQueue(context, ['debian-12'], { force: false, background: false, buildOne: fakeBuildOne({}), pollMs: 20 });
    expect(retry?.id).not.toBe(queued.id);
    expect((await loadQueue(context)).map((job) => job.state)).toEqual(['failed', 'done']);
  });

  it('make queue-cancel of a job running in another worker: the build cleans up, the job is cancelled, the worker goes on', async () => {
    const slow = await enqueue(context, ['debian-12'], { force: false });
    const next = await enqueue(context, ['other'], { force: false });
    const worker = await spawnQueueWorker(root, workerEnv({ FAKE_BUILD_STEPS: '3', FAKE_BUILD_STEP_MS: '5000' }));
    const exited = once(worker, 'exit');
    await waitFor('the job to run', (jobs) => jobs[0]?.state === 'running');
    await cancelQueueJob(context, slow.id);
    expect(output).toMatch(new RegExp(`cancelled job ${slow.id} \\(image debian-12\\)`));
    expect(output).toMatch(new RegExp(`told worker ${worker.pid} to stop the build \\(SIGTERM\\)`));
    await waitFor('the next job to run', (jobs) => jobs[1]?.state === 'running');
    expect(await cancelJob(context, next.id)).toMatchObject({ signalledPid: worker.pid });
    const [code] = await exited;
    expect(code).toBe(0);
    const jobs = await loadQueue(context);
    expect(jobs.map((job) => [job.state, job.error])).toEqual([['cancelled', 'cancelled by the user'], ['cancelled', 'cancelled by the user']]);
    expect(await readFile(slow.logFile, 'utf8')).toMatch(/fake build of debian-12: cleaning up after cancel/);
    output = '';
    await showJobLog(context, slow.id);
    expect(output).toMatch(/job j-\w+: cancelled: cancelled by the user/);
    await expect(showJobLog(context, 'j-nosuch')).rejects.toMatchObject({ message: 'unknown job "j-nosuch"', hint: expect.stringContaining(slow.id) });
  });

  it('make queue shows the step, the percent and an ETA once an earlier build finished', async () => {
    await buildThroughQueue(context, ['debian-12'], { force: false, background: false, buildOne: fakeBuildOne({ FAKE_BUILD_STEPS: '2', FAKE_BUILD_STEP_MS: '600' }), pollMs: 20 });
    await enqueue(context, ['debian-12'], { force: true });
    let release = () => undefined as void;
    const held = new Promise<void>((resolve) => (release = resolve));
    const running = runWorker(context, async (_context, _image, { onStep }) => {
      onStep('2/4 installing packages', 50);
      await held;
    }, { progressIntervalMs: 20 });
    await waitFor('the progress to be written', (jobs) => jobs[1]?.percent === 50);
    output = '';
    await showQueue(context);
    expect(output).toMatch(/ID\s+IMAGE\s+STATE\s+STEP\s+PERCENT\s+ETA\s+AGE/);
    expect(output).toMatch(/j-\w+\s+debian-12\s+done\s+built\s+100%\s+-\s+0m/);
    expect(output).toMatch(/j-\w+\s+debian-12\s+running\s+2\/4 installing packages\s+50%\s+1s\s+0m/);
    output = '';
    await showQueue({ ...context, ui: createUi({ json: true, stdout: { write: (text: string) => ((output += text), true) } as never }) });
    expect(JSON.parse(output)[1]).toMatchObject({ state: 'running', percent: 50, etaSeconds: expect.any(Number) });
    release();
    expect((await running).ran.map((job) => job.state)).toEqual(['done']);
  });

  it('BG=1 queues the job, starts a detached worker and returns at once', async () => {
    const argv = await queueWorkerArgv(root);
    const job = await buildThroughQueue({ ...context, env: { ...context.env, ...workerEnv({ FAKE_BUILD_STEP_MS: '300' }) } }, ['debian-12', 'docker'], {
      force: false,
      background: true,
      buildOne: fakeBuildOne({}),
      startWorker: (ctx) => startDetachedWorker(ctx, argv),
    });
    expect(job?.state).toBe('queued');
    expect(output).toMatch(new RegExp(`queued job ${job?.id} \\(image docker\\); worker \\d+ builds it in the background`));
    expect(output).toContain(`make queue-log JOB=${job?.id}`);
    const jobs = await waitFor('the detached worker to finish', (current) => current.every((candidate) => candidate.state === 'done'));
    expect(jobs.map((candidate) => candidate.image)).toEqual(['debian-12', 'docker']);
    await waitFor('the worker to exit', () => !existsSync(path.join(context.home, 'queue/worker.pid')));
    expect(await readFile(path.join(context.home, 'logs/worker.log'), 'utf8')).toMatch(/"claimed":true/);
  });
});
