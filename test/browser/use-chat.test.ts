// The AI SDK's useChat (its DefaultChatTransport, resume: true) on a React page built with Vite, in real Chromium,
// against Rivulet: the page is examples/use-chat, whose chat.tsx is the README's useChat snippet.

import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import react from '@vitejs/plugin-react';
import type { Page } from 'playwright-core';
import { build } from 'vite';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { chromiumAvailable, launchBrowser, screenshot, type Browser } from '../helpers/browser.ts';
import { startPageServer, type PageServer } from '../helpers/page-server.ts';
import { startTestServer, type TestServer } from '../helpers/test-server.ts';

const EXAMPLE_DIR = path.resolve(import.meta.dirname, '../../examples/use-chat');
const README = path.resolve(import.meta.dirname, '../../README.md');
const range = (count: number): number[] => Array.from({ length: count }, (_, index) => index + 1);
/** An answer of numbered words, so a repeated or missing piece of text shows in the page. */
const numberedTokens = (count: number): string[] => range(count).map((number) => `w${number} `);
const wordNumbers = (text: string): number[] =>
  [...text.matchAll(/w(\d+)/g)].map((match) => Number(match[1]));

describe('the README useChat snippet', () => {
  it('is examples/use-chat/chat.tsx as written (the page the browser test runs)', () => {
    const readme = readFileSync(README, 'utf8');
    const marker = '<!-- snippet: examples/use-chat/chat.tsx -->';
    expect(readme).toContain(marker);
    const block = /^```tsx\n([\s\S]*?)^```$/m.exec(readme.slice(readme.indexOf(marker)))?.[1];
    expect(block).toBe(readFileSync(path.join(EXAMPLE_DIR, 'chat.tsx'), 'utf8'));
  });
});

describe.skipIf(!chromiumAvailable)('useChat with resume: true in Chromium', () => {
  let server: TestServer;
  let pages: PageServer;
  let browser: Browser;
  let page: Page;
  let outDir: string;

  beforeAll(async () => {
    outDir = mkdtempSync(path.join(tmpdir(), 'rivulet-use-chat-'));
    await build({
      root: EXAMPLE_DIR,
      configFile: false,
      logLevel: 'warn',
      plugins: [react()],
      build: { outDir, emptyOutDir: true },
    });
    server = await startTestServer({ SAMPLE_CORPUS: 'true', ANSWER_CACHE: 'false' });
    pages = await startPageServer(outDir, server.url);
    browser = await launchBrowser();
  }, 180_000);
  afterAll(async () => {
    await browser?.close();
    await pages?.close();
    await server?.close();
    rmSync(outDir, { recursive: true, force: true });
  });
  beforeEach(async () => {
    server.upstream.reset();
    await page?.close();
    page = await browser.newPage();
  });

  const answer = () => page.locator('article.assistant').last();
  const answerText = async (): Promise<string> =>
    (await answer().count()) === 0 ? '' : answer().locator('.text').innerText();
  const ask = async (question: string): Promise<void> => {
    await page.getByLabel('Question').fill(question);
    await page.getByRole('button', { name: 'Ask' }).click();
  };
  /** How many numbered words the answer shows (generous waits: the machine is shared with other test runs). */
  const wordsShown = (): Promise<number> => answerText().then((text) => wordNumbers(text).length);
  const waitForWords = (more: number) =>
    expect.poll(wordsShown, { timeout: 20_000, interval: 50 }).toBeGreaterThan(more);
  const ready = () => page.locator('main[data-status="ready"]').waitFor({ timeout: 30_000 });

  it('streams the answer with its sources', async () => {
    server.upstream.setScenario({ tokens: numberedTokens(60), ttftMs: 200, interTokenMs: 40 });
    await page.goto(pages.url);
    await ask('How do I resume a stream after a network drop?');
    await answer().locator('.sources li').first().waitFor();
    // Sources come before the text, which then grows while the answer streams.
    await waitForWords(3);
    const partial = wordNumbers(await answerText()).length;
    expect(partial).toBeLessThan(60);
    await screenshot(page, 'use-chat-streaming');
    await ready();
    expect(wordNumbers(await answerText())).toEqual(range(60));
    expect(await answer().locator('.sources li').first().innerText()).toMatch(/^\[1\] \S/);
  });

  it('resumes after a reload mid-answer: the final text has nothing lost or repeated', async () => {
    server.upstream.setScenario({ tokens: numberedTokens(200), interTokenMs: 40 });
    await page.goto(pages.url);
    await ask('How do I resume a stream after a network drop?');
    await waitForWords(8);
    const chatUrl = page.url();
    const reconnect = page.waitForResponse((response) => response.url().endsWith('/stream'));
    await page.reload();
    expect(page.url()).toBe(chatUrl);
    const resumed = await reconnect;
    expect(resumed.status()).toBe(200);
    expect(resumed.headers()['x-vercel-ai-ui-message-stream']).toBe('v1');
    // The resumed answer is rebuilt from the replay and keeps streaming.
    await waitForWords(0);
    expect(wordNumbers(await answerText()).length).toBeLessThan(200);
    await ready();
    expect(wordNumbers(await answerText())).toEqual(range(200));
    expect(await answer().locator('.sources li').count()).toBeGreaterThan(0);
    // The answer was generated once: the reload was a disconnect, not a stop.
    const upstream = await server.upstream.waitForClose(1);
    expect(upstream.completed).toBe(true);
    await screenshot(page, 'use-chat-resumed');
  });

  it('stops the answer: the provider connection is closed and the text stops growing', async () => {
    server.upstream.setScenario({ tokens: numberedTokens(200), interTokenMs: 40 });
    await page.goto(pages.url);
    await ask('How do I resume a stream after a network drop?');
    await waitForWords(5);
    await page.getByRole('button', { name: 'Stop' }).click();
    const upstream = await server.upstream.waitForClose(1);
    expect(upstream.closedBy).toBe('client');
    expect(upstream.completed).toBe(false);
    await ready();
    const stopped = wordNumbers(await answerText());
    expect(stopped).toEqual(range(stopped.length));
    expect(stopped.length).toBeLessThan(200);
    await page.waitForTimeout(300);
    expect(wordNumbers(await answerText())).toEqual(stopped);
    // A reload finds nothing to resume: useChat's reconnect is answered 204.
    const reconnect = page.waitForResponse((response) => response.url().endsWith('/stream'));
    await page.reload();
    expect((await reconnect).status()).toBe(204);
    await ready();
    expect(await answer().count()).toBe(0);
  });
});
