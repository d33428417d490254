// The web app in real Chromium against a real server and the fake upstream: progressive streaming, Markdown,
// citations, stop, reload-resume, regenerate, the non-streaming mode and the automatic fallback, upload, themes.

import type { Page } from 'playwright-core';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { chromiumAvailable, launchBrowser, screenshot, type Browser } from '../helpers/browser.ts';
import { startTestServer, type TestServer } from '../helpers/test-server.ts';

/** An answer whose words are numbered, so a repeated or missing piece of text is visible in the DOM. */
export function numberedTokens(count: number): string[] {
  return Array.from({ length: count }, (_, index) => `w${index + 1} `);
}

/** The numbers of the w<n> words in the text, in order. */
export function wordNumbers(text: string): number[] {
  return [...text.matchAll(/w(\d+)/g)].map((match) => Number(match[1]));
}

const range = (count: number): number[] => Array.from({ length: count }, (_, index) => index + 1);

async function ask(page: Page, question: string): Promise<void> {
  await page.getByLabel('Your question').fill(question);
  await page.keyboard.press('Enter');
}

const lastAnswer = (page: Page) => page.locator('.rv-assistant').last();
const answerText = async (page: Page): Promise<string> =>
  (await lastAnswer(page).locator('.rv-answer').count()) === 0
    ? ''
    : lastAnswer(page).locator('.rv-answer').innerText();

describe.skipIf(!chromiumAvailable)('web app in Chromium', () => {
  let server: TestServer;
  let browser: Browser;
  let page: Page;

  beforeAll(async () => {
    server = await startTestServer({ SAMPLE_CORPUS: 'true', ANSWER_CACHE: 'false' });
    browser = await launchBrowser();
  });
  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });
  beforeEach(async () => {
    server.upstream.reset();
    await page?.close();
    page = await browser.newPage();
  });

  it('shows sources before the answer, then the text grows token by token, then speed figures', async () => {
    // A first token 1.5 s after the sources: room to see them alone even on a loaded machine.
    server.upstream.setScenario({ tokens: numberedTokens(60), ttftMs: 1500, interTokenMs: 40 });
    await page.goto(server.url);
    await ask(page, 'How do I resume a stream after a network drop?');

    // Sources and the phase line arrive before any text.
    // The list is folded (one line, "n sources"): its passages are there before any text.
    await page.locator('.rv-sources li').first().waitFor({ state: 'attached' });
    expect(await answerText(page)).toBe('');
    await expect.poll(() => page.locator('.rv-phase').innerText()).toMatch(/Writing the answer/);

    // From the first visible words on (60 tokens 40 ms apart: about 2.4 s of streaming), the text keeps growing.
    await expect.poll(async () => (await answerText(page)).length, { timeout: 15_000 }).toBeGreaterThan(0);
    const lengths: number[] = [];
    for (let sample = 0; sample < 4; sample++) {
      lengths.push((await answerText(page)).length);
      await screenshot(page, `app-streaming-${sample}`);
      await page.waitForTimeout(350);
    }
    // The visible text grew across the screenshots, and the answer was not finished yet at the first of them.
    expect(
      lengths.filter((length, index) => index > 0 && length > (lengths[index - 1] ?? 0)).length,
    ).toBeGreaterThanOrEqual(2);
    expect(lengths[0]).toBeLessThan(numberedTokens(60).join('').trim().length);

    await lastAnswer(page).and(page.locator('[data-status="complete"]')).waitFor();
    expect(wordNumbers(await answerText(page))).toEqual(range(60));
    const footer = await lastAnswer(page).locator('.rv-stats').innerText();
    expect(footer).toMatch(/first token [\d.]+ m?s/);
    expect(footer).toMatch(/tokens\/s/);
    // Each phase's time is one click away.
    await lastAnswer(page).getByText('timings').click();
    expect(await lastAnswer(page).locator('.rv-phases').innerText()).toMatch(
      /history .* retrieve .* generate/,
    );
    // The conversation shows up in the list and in the address.
    await expect.poll(() => page.locator('.app-conversations li').count()).toBe(1);
    expect(page.url()).toMatch(/#\/c\/conv_/);
    await screenshot(page, 'app');

    // Opened later (from its link, in another tab), the stored answer keeps its sources and timings.
    const later = await browser.newPage();
    await later.goto(page.url());
    await lastAnswer(later).and(later.locator('[data-status="complete"]')).waitFor();
    expect(wordNumbers(await answerText(later))).toEqual(range(60));
    expect(await lastAnswer(later).locator('.rv-sources li').count()).toBeGreaterThan(0);
    expect(await lastAnswer(later).locator('.rv-stats').innerText()).toMatch(/first token [\d.]+ m?s/);
    await later.close();
  });

  it('renders Markdown as it streams (lists, code, tables) and keeps finished blocks in place', async () => {
    const markdown = [
      'Resuming takes two steps [1]:\n\n',
      '1. Keep the last event id.\n',
      '2. Reconnect with **Last-Event-ID** [2].\n\n',
      '```js\nconst source = new EventSource(url);\n```\n\n',
      '| header | meaning |\n| --- | --- |\n| `Last-Event-ID` | where to resume |\n',
    ];
    // Split into small tokens so every construct is seen half-written.
    const tokens = markdown.join('').match(/.{1,3}/gs) ?? [];
    server.upstream.setScenario({ tokens, interTokenMs: 15 });
    await page.goto(server.url);
    await ask(page, 'How do I resume a stream?');

    const firstParagraph = lastAnswer(page).locator('.rv-md > p').first();
    await firstParagraph.waitFor();
    await firstParagraph.evaluate((element) => element.setAttribute('data-seen', 'yes'));
    await lastAnswer(page).and(page.locator('[data-status="complete"]')).waitFor();

    const answer = lastAnswer(page);
    expect(await answer.locator('.rv-answer ol > li').count()).toBe(2);
    expect(await answer.locator('.rv-answer strong').innerText()).toBe('Last-Event-ID');
    expect(await answer.locator('pre code').innerText()).toBe('const source = new EventSource(url);');
    expect(await answer.locator('table td').first().innerText()).toBe('Last-Event-ID');
    // The first paragraph is the same element it was while streaming: it was not re-created (no flicker).
    expect(await answer.locator('.rv-md > p').first().getAttribute('data-seen')).toBe('yes');
    // No raw Markdown markers are left in the text.
    expect(await answer.locator('.rv-answer').innerText()).not.toMatch(/\*\*|```|\| ---/);

    await screenshot(page, 'app-markdown');

    // A citation opens its passage in a new tab: the chat stays as it was.
    const url = page.url();
    const [passage] = await Promise.all([
      page.context().waitForEvent('page'),
      answer.locator('a.rv-cite[data-cite="2"]').click(),
    ]);
    await passage.locator('.app-passage h1').waitFor();
    await passage.close();
    expect(page.url()).toBe(url);
  });

  it('stop halts the text and closes the upstream connection', async () => {
    server.upstream.setScenario({ tokens: numberedTokens(400), interTokenMs: 25 });
    await page.goto(server.url);
    await ask(page, 'Tell me everything about streaming.');
    await expect.poll(async () => wordNumbers(await answerText(page)).length).toBeGreaterThan(5);
    await page.getByRole('button', { name: /Stop the answer/ }).click();

    await lastAnswer(page).and(page.locator('[data-status="stopped"]')).waitFor();
    const closed = await server.upstream.waitForClose(1);
    expect(closed.closedBy).toBe('client');
    const stoppedAt = await answerText(page);
    await page.waitForTimeout(500);
    expect(await answerText(page)).toBe(stoppedAt);
    const numbers = wordNumbers(stoppedAt);
    expect(numbers).toEqual(range(numbers.length));
    expect(numbers.length).toBeLessThan(400);
    expect(await lastAnswer(page).innerText()).toContain('Stopped.');
  });

  it('Escape stops the answer from the keyboard', async () => {
    server.upstream.setScenario({ tokens: numberedTokens(400), interTokenMs: 25 });
    await page.goto(server.url);
    await ask(page, 'A long answer, please.');
    await expect.poll(async () => wordNumbers(await answerText(page)).length).toBeGreaterThan(3);
    await page.getByLabel('Your question').press('Escape');
    await lastAnswer(page).and(page.locator('[data-status="stopped"]')).waitFor();
  });

  it('a reload in the middle of an answer resumes it, with no text repeated or lost', async () => {
    server.upstream.setScenario({ tokens: numberedTokens(120), interTokenMs: 20 });
    await page.goto(server.url);
    await ask(page, 'What happens when my tab reloads?');
    await expect.poll(async () => wordNumbers(await answerText(page)).length).toBeGreaterThan(20);
    await page.reload();

    await lastAnswer(page).and(page.locator('[data-status="complete"]')).waitFor();
    expect(wordNumbers(await answerText(page))).toEqual(range(120));
    expect(await page.locator('.rv-user').count()).toBe(1);
    expect(await page.locator('.rv-assistant').count()).toBe(1);
    // The answer was generated once: the reload rejoined the run instead of asking again.
    expect(server.upstream.requests.length).toBe(1);
  });

  it('regenerate replaces the last answer with a new one', async () => {
    server.upstream.setScenario({ tokens: numberedTokens(10) });
    await page.goto(server.url);
    await ask(page, 'Say ten words.');
    await lastAnswer(page).and(page.locator('[data-status="complete"]')).waitFor();
    server.upstream.setScenario({ tokens: ['again ', ...numberedTokens(5)] });
    await lastAnswer(page).getByRole('button', { name: 'Regenerate' }).click();
    await expect.poll(() => answerText(page)).toMatch(/^again/);
    await lastAnswer(page).and(page.locator('[data-status="complete"]')).waitFor();
    expect(await page.locator('.rv-assistant').count()).toBe(1);
    expect(await page.locator('.rv-user').count()).toBe(1);
  });

  it('falls back to whole answers when streaming fails on the way', async () => {
    server.upstream.setScenario({ tokens: numberedTokens(30) });
    await page.route('**/api/chat/stream', (route) => route.abort('connectionreset'));
    const whole = page.waitForRequest(
      (request) => request.url().endsWith('/api/chat') && request.method() === 'POST',
    );
    await page.goto(server.url);
    await ask(page, 'Does this work behind a broken proxy?');
    await whole;
    await lastAnswer(page).and(page.locator('[data-status="complete"]')).waitFor();
    expect(wordNumbers(await answerText(page))).toEqual(range(30));
    expect(await page.locator('.app-mode').innerText()).toBe('whole answers');
    expect(server.upstream.requests.length).toBe(1);
  });

  it('uploads a document with progress and lists it; a bad file is reported by name', async () => {
    await page.goto(`${server.url}/#/documents`);
    await page.locator('input[type=file]').setInputFiles([
      {
        name: 'pricing.md',
        mimeType: 'text/markdown',
        buffer: Buffer.from('# Pricing\n\nThe plan costs 12 euros.\n'),
      },
      { name: 'photo.png', mimeType: 'image/png', buffer: Buffer.from([0x89, 0x50, 0x4e, 0x47]) },
    ]);
    const summary = page.locator('.docs-summary');
    await summary.waitFor();
    expect(await summary.innerText()).toMatch(/1 added, 0 updated, 0 unchanged, 1 failed/);
    expect(await summary.innerText()).toMatch(/photo\.png/);
    expect(await summary.innerText()).toMatch(/DOCUMENT_UNSUPPORTED_TYPE/);
    await expect.poll(() => page.locator('.docs-table').innerText()).toMatch(/pricing\.md/);
    await page.reload();
    await page.locator('.docs-drop').waitFor();

    // On a slow uplink the line and the bar say the same figure at every step ("Sending… 40%" showed a 10% bar).
    const cdp = await page.context().newCDPSession(page);
    await cdp.send('Network.emulateNetworkConditions', {
      offline: false,
      latency: 0,
      downloadThroughput: -1,
      uploadThroughput: 100 * 1024,
    });
    await page.evaluate(() => {
      const seen: { value: number; text: string }[] = [];
      (window as unknown as { progressSeen: typeof seen }).progressSeen = seen;
      new MutationObserver(() => {
        const bar = document.querySelector<HTMLProgressElement>('.docs-progress progress');
        const text = document.querySelector('.docs-progress span')?.textContent;
        if (bar !== null && text !== undefined && text !== null) seen.push({ value: bar.value, text });
      }).observe(document.body, { subtree: true, childList: true, characterData: true, attributes: true });
    });
    const line = 'Plans are billed monthly and can be cancelled at any time from the account page.\n';
    await page.locator('input[type=file]').setInputFiles([
      {
        name: 'billing.md',
        mimeType: 'text/markdown',
        buffer: Buffer.from(`# Billing\n\n${line.repeat(3000)}`),
      },
    ]);
    await expect.poll(() => summary.innerText(), { timeout: 30_000 }).toMatch(/1 added/);
    await cdp.send('Network.emulateNetworkConditions', {
      offline: false,
      latency: 0,
      downloadThroughput: -1,
      uploadThroughput: -1,
    });
    const seen = await page.evaluate(
      () => (window as unknown as { progressSeen: { value: number; text: string }[] }).progressSeen,
    );
    const sending = seen.filter((state) => state.text.startsWith('Sending'));
    expect(sending.some((state) => state.value > 0 && state.value < 100)).toBe(true);
    for (const state of sending) expect(state.text).toBe(`Sending… ${state.value}%`);
    expect(await page.locator('.docs-table').innerText()).toMatch(/billing\.md/);
  });

  it('falls back to the quoted passages under a banner when the model fails, and tells the admin what to fix', async () => {
    server.upstream.setScenario({ errorStatus: 401 });
    await page.goto(server.url);
    await ask(page, 'How do I resume a stream after a network drop?');
    await lastAnswer(page).and(page.locator('[data-status="complete"]')).waitFor();
    const notice = lastAnswer(page).locator('.rv-fallback');
    expect(await notice.innerText()).toContain(
      'The model is unavailable; here are the passages that answer it.',
    );
    expect(await notice.innerText()).toContain('UPSTREAM_AUTH_FAILED');
    // The local user of an open install is an admin: the hint names the variable to fix.
    await expect
      .poll(() => notice.locator('.rv-admin-hint').allInnerTexts())
      .toEqual([expect.stringMatching(/LLM_API_KEY rejected \(401\)/)]);
    expect(await lastAnswer(page).locator('.rv-answer blockquote').count()).toBeGreaterThan(0);
  });

  it('dark theme toggles and persists across reloads', async () => {
    await page.goto(server.url);
    await page.getByRole('button', { name: /Switch to dark theme/ }).click();
    expect(await page.locator('.app').getAttribute('data-theme')).toBe('dark');
    await page.reload();
    await page.locator('.app').waitFor();
    expect(await page.locator('.app').getAttribute('data-theme')).toBe('dark');
    const background = await page
      .locator('.app')
      .evaluate((element) => getComputedStyle(element).backgroundColor);
    expect(background).toBe('rgb(20, 23, 28)');
    server.upstream.setScenario({ tokens: numberedTokens(12) });
    await ask(page, 'How do I resume a stream after a network drop?');
    await lastAnswer(page).and(page.locator('[data-status="complete"]')).waitFor();
    await screenshot(page, 'app-dark');
  });

  it('announces phases and the end of the answer to screen readers', async () => {
    server.upstream.setScenario({ tokens: numberedTokens(20), ttftMs: 400, interTokenMs: 10 });
    await page.goto(server.url);
    const live = page.locator('[aria-live="polite"]').first();
    await ask(page, 'Is this accessible?');
    await expect.poll(() => live.innerText(), { timeout: 5000 }).toMatch(/Writing the answer|Answering/);
    await expect.poll(() => live.innerText()).toBe('Answer complete.');
  });
});

describe.skipIf(!chromiumAvailable)('web app with ENABLE_FRONTEND_STREAMING=false', () => {
  let server: TestServer;
  let browser: Browser;

  beforeAll(async () => {
    server = await startTestServer({ ENABLE_FRONTEND_STREAMING: 'false', ANSWER_CACHE: 'false' });
    browser = await launchBrowser();
  });
  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  it('shows whole answers through the non-streaming endpoint', async () => {
    server.upstream.setScenario({ tokens: numberedTokens(25), interTokenMs: 10 });
    const page = await browser.newPage();
    const streamed: string[] = [];
    page.on('request', (request) => {
      if (request.url().includes('/api/chat/stream')) streamed.push(request.url());
    });
    await page.goto(server.url);
    expect(await page.locator('.app-mode').innerText()).toBe('whole answers');
    const whole = page.waitForRequest((request) => request.url().endsWith('/api/chat'));
    await ask(page, 'Whole answers only, please.');
    await whole;
    await lastAnswer(page).and(page.locator('[data-status="complete"]')).waitFor();
    expect(wordNumbers(await answerText(page))).toEqual(range(25));
    expect(streamed).toEqual([]);
  });
});

describe.skipIf(!chromiumAvailable)('web app with auth required', () => {
  let server: TestServer;
  let browser: Browser;

  beforeAll(async () => {
    server = await startTestServer({ AUTH_MODE: 'required', ANSWER_CACHE: 'false' });
    browser = await launchBrowser();
  });
  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  it('asks for an API key, refuses a wrong one, and answers with a valid one', async () => {
    server.upstream.setScenario({ tokens: numberedTokens(10) });
    const { token } = await server.app.stores.apiKeys.createApiKey({
      name: 'browser',
      orgId: null,
      admin: false,
    });
    const page = await browser.newPage();
    await page.goto(server.url);
    const field = page.getByLabel(/API key or JWT/);
    await field.waitFor();

    await field.fill('rk_AAAAAAAAAAAA_not-a-real-key-not-a-real-key-not-a-real-k');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByLabel('Your question').waitFor();
    await ask(page, 'Am I signed in?');
    await lastAnswer(page).and(page.locator('[data-status="failed"]')).waitFor();
    expect(await lastAnswer(page).locator('.rv-error').innerText()).toContain('UNAUTHORIZED');
    expect(await page.getByText('The server refused this key or token.').count()).toBe(1);

    await page.getByLabel(/API key or JWT/).fill(token);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByText('Signed in with an API key.').waitFor();
    await ask(page, 'Am I signed in now?');
    await lastAnswer(page).and(page.locator('[data-status="complete"]')).waitFor();
    expect(wordNumbers(await answerText(page))).toEqual(range(10));
    // The token travels in a header, never in the address.
    expect(page.url()).not.toContain(token);
    // A member is no admin: the admin views are not offered (and the server refuses them: 403).
    expect(await page.getByRole('link', { name: 'Dashboard' }).count()).toBe(0);
    expect(await page.getByRole('link', { name: 'Documents' }).count()).toBe(0);
    const stats = await fetch(`${server.url}/api/stats`, { headers: { authorization: `Bearer ${token}` } });
    expect(stats.status).toBe(403);
  });
});
