import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ContainerUsage, RuntimeDriver } from '../../runtime/driver.ts';
import type { SandboxManager } from '../../sandbox/manager.ts';
import { UsageSampler } from './usage.ts';

test('CPU is the rate between two readings, memory the latest; a stopped sandbox is not read', async () => {
  const readings: ContainerUsage[] = [
    { cpuTotalNs: 0, memoryBytes: 10, atMs: 1000 },
    { cpuTotalNs: 500_000_000, memoryBytes: 20, atMs: 3000 },
  ];
  const asked: string[] = [];
  const driver = {
    usage: async (id: string) => {
      asked.push(id);
      return readings.shift();
    },
  } as unknown as RuntimeDriver;
  const manager = {
    list: () => [
      { id: 'sb-a', containerId: 'ca', state: 'ready' },
      { id: 'sb-b', containerId: 'cb', state: 'stopped' },
    ],
  } as unknown as SandboxManager;
  const sampler = new UsageSampler(manager, driver);
  try {
    assert.equal(sampler.of('sb-a'), undefined, 'nothing read yet');
    await new Promise((resolve) => setTimeout(resolve, 10));
    assert.deepEqual(sampler.of('sb-a'), { cpuPercent: null, memoryBytes: 10 });
    await new Promise((resolve) => setTimeout(resolve, 2100));
    assert.deepEqual(sampler.of('sb-a'), { cpuPercent: 25, memoryBytes: 20 });
    assert.deepEqual(new Set(asked), new Set(['ca']));
  } finally {
    sampler.stop();
  }
});
