// How the web app holds up when a model streams faster than a screen refreshes: the real app in Debian's Chromium,
// the real server, the fake upstream sending a long Markdown answer as fast as it can (and at a brisk 2 ms a token).
// Prints the page's renders per token, its longest main-thread task, total blocking time (the sum of each long
// task's time over 50 ms) and how long the answer took to show in full.
//
//   npm run bench:browser            (needs /usr/bin/chromium, or CHROMIUM_PATH)

import { chromiumAvailable, launchBrowser } from '../test/helpers/browser.ts';
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
}

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

async function measure(url: string, label: string): Promise<PageFigures> {
  const browser = await launchBrowser();
  try {
    const page = await browser.newPage();
    await page.addInitScript(() => {
      const figures = { renders: 0, frames: 0, longTasks: 0, longestTaskMs: 0, blockingMs: 0 };
      (window as unknown as { __bench: typeof figures }).__bench = figures;
      new PerformanceObserver((list) => {
        for (const entry of list.getEntries()) {
          figures.longTasks++;
          figures.longestTaskMs = Math.max(figures.longestTaskMs, entry.duration);
          figures.blockingMs += Math.max(0, entry.duration - 50);
        }
      }).observe({ type: 'longtask', buffered: true });
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
  const cases = [
    { label: 'as fast as the fake can send', tokens: quick ? 1000 : 4000, interTokenMs: 0 },
    { label: '2 ms per token (500 tokens/s)', tokens: quick ? 500 : 2000, interTokenMs: 2 },
  ];
  console.log('web app in Chromium, long Markdown answers (renders are batches of DOM changes)\n');
  console.log(
    '| case | tokens | chars | renders | renders/token | frames | long tasks | longest task ms | blocking ms | stream ms |',
  );
  console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const testCase of cases) {
    const server = await startTestServer(
      { ANSWER_CACHE: 'false', LOG_LEVEL: 'warn' },
      { tokens: markdownTokens(testCase.tokens), interTokenMs: testCase.interTokenMs },
    );
    try {
      const figures = await measure(server.url, testCase.label);
      console.log(
        `| ${testCase.label} | ${testCase.tokens} | ${figures.chars} | ${figures.renders} | ` +
          `${(figures.renders / testCase.tokens).toFixed(3)} | ${figures.frames} | ${figures.longTasks} | ` +
          `${figures.longestTaskMs.toFixed(0)} | ${figures.blockingMs.toFixed(0)} | ${figures.streamMs.toFixed(0)} |`,
      );
    } finally {
      await server.close();
    }
  }
  return 0;
}

process.exitCode = await main();
