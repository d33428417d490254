// Takes the README's screenshots (docs/images/app-<size>-<theme>.png): the web app in Chromium against a real server
// over the bundled guide, answering with the fake upstream's Markdown answer (headings, list, table, code,
// citations), at a desktop size (1280x800) and a phone size (390x844), light and dark. Look at them before you
// commit them.
//
//   node docs/images/take-screenshots.ts   (Node 24: npm run screenshots; needs /usr/bin/chromium, or CHROMIUM_PATH)

import path from 'node:path';
import { chromiumAvailable, launchBrowser } from '../../test/helpers/browser.ts';
import { startTestServer } from '../../test/helpers/test-server.ts';
import { buildWeb } from '../../web/build.ts';

const SIZES = [
  { name: 'desktop', width: 1280, height: 800 },
  { name: 'phone', width: 390, height: 844 },
] as const;
const THEMES = ['light', 'dark'] as const;

async function main(): Promise<number> {
  if (!chromiumAvailable) {
    console.log('no Chromium: nothing taken');
    return 1;
  }
  await buildWeb({ ifStale: true });
  const server = await startTestServer(
    { SAMPLE_CORPUS: 'true', ANSWER_CACHE: 'false' },
    { answer: 'markdown', interTokenMs: 0 },
  );
  try {
    for (const theme of THEMES) {
      const browser = await launchBrowser({ colorScheme: theme });
      try {
        for (const size of SIZES) {
          const page = await browser.newPage();
          await page.setViewportSize({ width: size.width, height: size.height });
          await page.goto(server.url);
          await page
            .getByLabel('Your question')
            .fill('How does a client resume an answer after its connection dropped?');
          await page.keyboard.press('Enter');
          await page.locator('.rv-assistant[data-status="complete"]').waitFor();
          // The table and the code block in view, below the start of the answer.
          await page.locator('.rv-assistant .rv-table').first().scrollIntoViewIfNeeded();
          await page.locator('.rv-assistant .rv-cite').first().hover();
          const file = path.join(import.meta.dirname, `app-${size.name}-${theme}.png`);
          await page.screenshot({ path: file });
          console.log(file);
          await page.close();
        }
      } finally {
        await browser.close();
      }
    }
  } finally {
    await server.close();
  }
  return 0;
}

process.exitCode = await main();
