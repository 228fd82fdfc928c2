/**
 * What the audit log costs, and how fast the dashboard paints. Two control
 * planes in the same run, one with the audit log on (SANDBOXD_AUDIT=on, the
 * default) and one with it off, each with the same sandboxes and a 4 KiB file:
 * `read_file` throughput from thin JSON-RPC clients, and `read_file` p50 from
 * one client alone, in alternating windows (on, off, on, off…) so drift in the
 * machine's load falls on both. Then the dashboard: N real sandboxes on the
 * audited plane, the list page loaded in chromium with a session, first
 * contentful paint and the HTML's server time.
 *
 *   node bench/audit.ts [--quick] [--set sandboxes=8] [--set seconds=4] [--set rounds=3]
 *                       [--set latencyCalls=1000] [--set dashboardSandboxes=100] [--set paints=5]
 */
import { access } from 'node:fs/promises';
import type { Client } from '@modelcontextprotocol/client';
import { chromium } from 'playwright-core';
import { BenchPlane, type CreatedSandbox, callTool } from './lib/plane.ts';
import { formatMs, latencyTable, summarize } from './lib/stats.ts';
import { type Bench, type BenchResult, isMain, mapLimit, ratioCell, runStandalone } from './lib/suite.ts';
import { FOUR_KIB } from './read-file.ts';
import { type Caller, hammer, thinCaller } from './throughput.ts';

const COST_GOAL = 0.05;
const PAINT_GOAL_MS = 300;
const CHROMIUM = '/usr/bin/chromium';

interface Side {
  plane: BenchPlane;
  callers: Caller[];
  single: Client;
  calls: number;
  seconds: number;
  latencies: number[];
}

async function side(
  context: Parameters<Bench['run']>[0],
  audit: 'on' | 'off',
  sandboxes: number,
): Promise<Side> {
  const plane = await BenchPlane.start(context, { env: { SANDBOXD_AUDIT: audit } });
  const created = await mapLimit(Array.from({ length: sandboxes }), 4, () =>
    plane.create({}, context.signal),
  );
  await mapLimit(created, 4, async (sandbox: CreatedSandbox) => {
    const client = await plane.client(sandbox);
    await callTool(client, 'write_file', { path: 'file.txt', content: FOUR_KIB });
  });
  const single = await plane.client(created[0] as CreatedSandbox);
  return { plane, callers: created.map(thinCaller), single, calls: 0, seconds: 0, latencies: [] };
}

/** One call on each plane in turn, so whatever else loads the machine falls on both alike. */
async function interleavedReads(sides: readonly Side[], calls: number): Promise<void> {
  for (let index = 0; index < calls; index++) {
    for (const each of sides) {
      const startedAt = performance.now();
      await callTool(each.single, 'read_file', { path: 'file.txt' });
      each.latencies.push(performance.now() - startedAt);
    }
  }
}

export const auditBench: Bench<{
  sandboxes: number;
  seconds: number;
  rounds: number;
  latencyCalls: number;
  dashboardSandboxes: number;
  paints: number;
}> = {
  name: 'audit',
  title: 'audit log cost and dashboard paint',
  counts: (quick) =>
    quick
      ? { sandboxes: 4, seconds: 2, rounds: 2, latencyCalls: 200, dashboardSandboxes: 20, paints: 3 }
      : { sandboxes: 8, seconds: 4, rounds: 3, latencyCalls: 1000, dashboardSandboxes: 100, paints: 5 },
  async run(context, counts): Promise<BenchResult> {
    const { signal, progress } = context;
    progress(`two control planes (audit on, off), ${counts.sandboxes} sandboxes each`);
    const on = await side(context, 'on', counts.sandboxes);
    const off = await side(context, 'off', counts.sandboxes);
    progress('warming up');
    for (const each of [on, off]) await hammer(each.callers, 1, signal);
    await interleavedReads([on, off], 50);
    on.latencies.length = 0;
    off.latencies.length = 0;
    for (let round = 0; round < counts.rounds; round++) {
      for (const each of round % 2 === 0 ? [on, off] : [off, on]) {
        progress(`round ${round + 1}: audit ${each === on ? 'on' : 'off'}`);
        const window = await hammer(each.callers, counts.seconds, signal);
        if (window.errors > 0) throw new Error(`read_file failed: ${window.firstError}`);
        each.calls += window.calls;
        each.seconds += window.seconds;
      }
    }
    progress(`read_file p50: ${counts.latencyCalls} calls on each plane, alternating call by call`);
    await interleavedReads([on, off], counts.latencyCalls);
    const rate = (each: Side) => each.calls / each.seconds;
    const throughputCost = 1 - rate(on) / rate(off);
    const p50 = (each: Side) => summarize(each.latencies).p50;
    const latencyCost = p50(on) / p50(off) - 1;
    progress(
      `audit on ${Math.round(rate(on))} calls/s, off ${Math.round(rate(off))} calls/s; ` +
        `read_file p50 on ${formatMs(p50(on))} ms, off ${formatMs(p50(off))} ms`,
    );
    const audited = await on.plane.control
      .fetch('/v1/audit?kind=tool_call&limit=1&order=desc')
      .then((response) => response.json() as Promise<{ entries: { id: number }[] }>);

    // The dashboard: as many real sandboxes on the audited plane as asked.
    await off.plane.destroy(progress);
    const more = counts.dashboardSandboxes - counts.sandboxes;
    progress(`creating ${more} more sandboxes for the dashboard`);
    await mapLimit(Array.from({ length: Math.max(0, more) }), 4, () => on.plane.create({}, signal));
    const paints: number[] = [];
    const serverTimes: number[] = [];
    let paintNote = '';
    if (
      await access(CHROMIUM).then(
        () => true,
        () => false,
      )
    ) {
      const browser = await chromium.launch({
        executablePath: CHROMIUM,
        args: process.getuid?.() === 0 ? ['--no-sandbox'] : [],
      });
      try {
        // bypassCSP: only so this benchmark may read the paint timings from the page.
        const page = await browser.newPage({ bypassCSP: true });
        await page.goto(`${on.plane.control.baseUrl}/ui/login`);
        await page.fill('input[name=token]', on.plane.control.token);
        await Promise.all([page.waitForURL(/\/ui$/), page.click('button[type=submit]')]);
        const rows = await page.locator('#sandbox-rows tr').count();
        if (rows !== counts.dashboardSandboxes) throw new Error(`the list shows ${rows} rows`);
        for (let index = 0; index < counts.paints; index++) {
          await page.reload();
          await page
            .locator('#sandbox-rows tr')
            .nth(counts.dashboardSandboxes - 1)
            .waitFor();
          paints.push(
            await page.evaluate(
              () =>
                (performance.getEntriesByName('first-contentful-paint')[0] as PerformanceEntry | undefined)
                  ?.startTime ?? Number.NaN,
            ),
          );
          const startedAt = performance.now();
          const request = await page.request.get(`${on.plane.control.baseUrl}/ui`);
          serverTimes.push(performance.now() - startedAt);
          if (!request.ok()) throw new Error(`GET /ui: ${request.status()}`);
        }
      } finally {
        await browser.close();
      }
    } else {
      paintNote = ` (skipped: no ${CHROMIUM})`;
    }
    const paint = paints.length === 0 ? Number.NaN : summarize(paints).p50;
    return {
      rows: [
        {
          what: 'audit log cost: throughput',
          how: `${counts.sandboxes} thin clients calling \`read_file\` (4 KiB), ${counts.rounds} alternating windows of ${counts.seconds} s on each of two planes`,
          result: `audit on: ${Math.round(rate(on))} calls/s (${audited.entries[0]?.id ?? 0} rows written)`,
          baseline: `audit off: ${Math.round(rate(off))} calls/s`,
          ratio: ratioCell(rate(on), rate(off), { isTime: false }),
          goal: `≤ ${COST_GOAL * 100}% fewer calls/s`,
          met: throughputCost <= COST_GOAL ? 'yes' : 'no',
        },
        {
          what: 'audit log cost: read_file p50',
          how: `one client per plane, ${counts.latencyCalls} sequential \`read_file\` calls on each, alternating call by call`,
          result: `audit on: ${formatMs(p50(on))} ms`,
          baseline: `audit off: ${formatMs(p50(off))} ms`,
          ratio: ratioCell(p50(on), p50(off)),
          goal: `≤ ${COST_GOAL * 100}% slower`,
          met: latencyCost <= COST_GOAL ? 'yes' : 'no',
        },
        {
          what: 'dashboard first paint',
          how: `${counts.dashboardSandboxes} real sandboxes listed, /ui reloaded ${counts.paints} times in chromium${paintNote}`,
          result: `first contentful paint p50 ${formatMs(paint)} ms`,
          baseline: `GET /ui alone p50 ${serverTimes.length === 0 ? '–' : formatMs(summarize(serverTimes).p50)} ms`,
          ratio: '–',
          goal: `≤ ${PAINT_GOAL_MS} ms`,
          met: Number.isNaN(paint) ? 'n/a' : paint <= PAINT_GOAL_MS ? 'yes' : 'no',
        },
      ],
      details: [
        '### Audit log cost and dashboard paint',
        '',
        `Thin clients: audit on ${on.calls} calls in ${on.seconds.toFixed(1)} s, off ${off.calls} calls in ${off.seconds.toFixed(1)} s ` +
          `(${(throughputCost * 100).toFixed(1)}% fewer with the log). The log batches rows (flushed every 50 ms or 500 rows in one transaction).`,
        '',
        latencyTable([
          ['read_file, one client, audit on', on.latencies],
          ['read_file, one client, audit off', off.latencies],
          ['dashboard first contentful paint', paints],
          ['GET /ui (server time, HTML only)', serverTimes],
        ]),
      ].join('\n'),
    };
  },
};

if (isMain(import.meta.url)) await runStandalone(auditBench);
