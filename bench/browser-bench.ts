// How the web app holds up when a model streams faster than a screen refreshes: the real app in Debian's Chromium,
// the real server, the fake upstream sending a long Markdown answer as fast as it can (and at a brisk 2 ms a token).
// Prints the page's renders per token, its longest main-thread task, total blocking time (the sum of each long
// task's time over 50 ms), how long the answer took to show in full, and its layout shift while streaming, at a
// desktop size (1280x800) and a phone size (390x844): CLS as browsers report it (the largest session window of
// shifts, Chrome's definition) and the sum of every shift. The last case is the fake upstream's long Markdown answer
// (headings, list, table, code, citations: test/fakes/markdown-answer.ts) over the sample corpus.
//
//   npm run bench:browser            (needs /usr/bin/chromium, or CHROMIUM_PATH; --quick for shorter answers)

import { chromiumAvailable, launchBrowser } from '../test/helpers/browser.ts';
import type { FakeScenario } from '../test/fakes/openai-upstream.ts';
import { startTestServer } from '../test/helpers/test-server.ts';
import { buildWeb } from '../web/build.ts';

interface PageFigures {
  renders: number;
  frames: number;
  longTasks: number;
  longestTaskMs: number;
  blockingMs: number;
  streamMs: number;
  chars: number;
  /** The largest session window of layout shifts (gaps under 1 s, at most 5 s long): what browsers call CLS. */
  cls: number;
  /** Every layout shift added up. */
  shiftSum: number;
}

export const VIEWPORTS = [
  { name: 'desktop', width: 1280, height: 800 },
  { name: 'phone', width: 390, height: 844 },
] as const;
type Viewport = (typeof VIEWPORTS)[number];

/** A realistic answer shape (paragraphs, a list, a table, code, citations), repeated to the wanted length. */
function markdownTokens(count: number): string[] {
  const section = [
    '## Resuming a stream\n\n',
    'When the connection drops, the client reconnects with **Last-Event-ID** [1] and the server replays ',
    'every event after it, so *nothing* is lost or repeated [2].\n\n',
    '- keep the `runId` from the `X-Run-Id` header\n- remember the last `seq`\n- reconnect with backoff\n\n',
    '| setting | default |\n| --- | ---: |\n| `RUN_GRACE_MS` | 30000 |\n| `SSE_PING_MS` | 15000 |\n\n',
    '```ts\nconst source = new EventSource(`/api/runs/${runId}/events`);\n```\n\n',
  ].join('');
  const words = section.match(/\S+\s*/g) ?? [];
  return Array.from({ length: count }, (_, index) => words[index % words.length] ?? ' ');
}

async function measure(url: string, label: string, viewport: Viewport): Promise<PageFigures> {
  const browser = await launchBrowser();
  try {
    const page = await browser.newPage();
    await page.setViewportSize({ width: viewport.width, height: viewport.height });
    await page.addInitScript(() => {
      const figures = {
        renders: 0,
        frames: 0,
        longTasks: 0,
        longestTaskMs: 0,
        blockingMs: 0,
        cls: 0,
        shiftSum: 0,
        windowValue: 0,
        windowStart: 0,
        lastShift: 0,
      };
      (window as unknown as { __bench: typeof figures }).__bench = figures;
      new PerformanceObserver((list) => {
        for (const entry of list.getEntries()) {
          figures.longTasks++;
          figures.longestTaskMs = Math.max(figures.longestTaskMs, entry.duration);
          figures.blockingMs += Math.max(0, entry.duration - 50);
        }
      }).observe({ type: 'longtask', buffered: true });
      new PerformanceObserver((list) => {
        for (const entry of list.getEntries() as (PerformanceEntry & {
          value: number;
          hadRecentInput: boolean;
        })[]) {
          if (entry.hadRecentInput) continue;
          figures.shiftSum += entry.value;
          // A new session window after a 1 s gap or once the window is 5 s long.
          if (entry.startTime - figures.lastShift > 1000 || entry.startTime - figures.windowStart > 5000) {
            figures.windowStart = entry.startTime;
            figures.windowValue = 0;
          }
          figures.windowValue += entry.value;
          figures.lastShift = entry.startTime;
          figures.cls = Math.max(figures.cls, figures.windowValue);
        }
      }).observe({ type: 'layout-shift', buffered: true });
      const frame = (): void => {
        figures.frames++;
        requestAnimationFrame(frame);
      };
      requestAnimationFrame(frame);
      addEventListener('DOMContentLoaded', () => {
        // Each batch of DOM changes the app makes is one render.
        new MutationObserver(() => figures.renders++).observe(document.body, {
          childList: true,
          subtree: true,
          characterData: true,
        });
      });
    });
    await page.goto(url);
    await page.getByLabel('Your question').fill(`Benchmark: ${label}`);
    await page.evaluate(() => {
      const figures = (window as unknown as { __bench: Record<string, number> }).__bench;
      for (const key of Object.keys(figures)) figures[key] = 0;
      figures.lastShift = -Infinity;
    });
    await page.keyboard.press('Enter');
    await page.locator('.rv-assistant .rv-answer p').first().waitFor({ timeout: 60_000 });
    const firstText = await page.evaluate(() => performance.now());
    await page.locator('.rv-assistant[data-status="complete"]').waitFor({ timeout: 120_000 });
    const done = await page.evaluate(() => performance.now());
    const figures = await page.evaluate(() => (window as unknown as { __bench: PageFigures }).__bench);
    const chars = (await page.locator('.rv-assistant .rv-answer').innerText()).length;
    return { ...figures, streamMs: done - firstText, chars };
  } finally {
    await browser.close();
  }
}

async function main(): Promise<number> {
  if (!chromiumAvailable) {
    console.log('browser bench skipped: no Chromium (apt-get install -y chromium, or set CHROMIUM_PATH)');
    return 0;
  }
  await buildWeb({ ifStale: true });
  const quick = process.argv.includes('--quick');
  const cases: { label: string; env: Record<string, string>; scenario: FakeScenario; tokens: string }[] = [
    {
      label: 'as fast as the fake can send',
      env: {},
      scenario: { tokens: markdownTokens(quick ? 1000 : 4000), interTokenMs: 0 },
      tokens: String(quick ? 1000 : 4000),
    },
    {
      label: '2 ms per token (500 tokens/s)',
      env: {},
      scenario: { tokens: markdownTokens(quick ? 500 : 2000), interTokenMs: 2 },
      tokens: String(quick ? 500 : 2000),
    },
    {
      label: 'long Markdown answer, 8 ms per token',
      env: { SAMPLE_CORPUS: 'true' },
      scenario: { answer: 'markdown', interTokenMs: 8 },
      tokens: 'markdown',
    },
  ];
  console.log('web app in Chromium, long Markdown answers (renders are batches of DOM changes)\n');
  console.log(
    '| case | size | tokens | chars | renders | frames | long tasks | longest task ms | blocking ms | stream ms | CLS | shift sum |',
  );
  console.log('| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const testCase of cases) {
    const server = await startTestServer(
      { ANSWER_CACHE: 'false', LOG_LEVEL: 'warn', ...testCase.env },
      testCase.scenario,
    );
    try {
      for (const viewport of VIEWPORTS) {
        const figures = await measure(server.url, testCase.label, viewport);
        console.log(
          `| ${testCase.label} | ${viewport.name} ${viewport.width}x${viewport.height} | ${testCase.tokens} | ` +
            `${figures.chars} | ${figures.renders} | ${figures.frames} | ${figures.longTasks} | ` +
            `${figures.longestTaskMs.toFixed(0)} | ${figures.blockingMs.toFixed(0)} | ${figures.streamMs.toFixed(0)} | ` +
            `${figures.cls.toFixed(3)} | ${figures.shiftSum.toFixed(3)} |`,
        );
      }
    } finally {
      await server.close();
    }
  }
  return 0;
}

process.exitCode = await main();
