// The embeddable widget on a page served from another origin, in real Chromium: Shadow DOM isolation, theming
// attributes, CORS, answering over SSE and WebSocket, resuming after a reload, and its size budget.

import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { WEB_DIST_DIR } from '../../src/transports/http/routes/web.ts';
import { formatMs } from '../../web/ui/format.ts';
import { chromiumAvailable, launchBrowser, screenshot, type Browser } from '../helpers/browser.ts';
import { putTestChatbot, startTestServer, type TestServer } from '../helpers/test-server.ts';

const numberedTokens = (count: number): string[] =>
  Array.from({ length: count }, (_, index) => `w${index + 1} `);
const wordNumbers = (text: string): number[] =>
  [...text.matchAll(/w(\d+)/g)].map((match) => Number(match[1]));
const range = (count: number): number[] => Array.from({ length: count }, (_, index) => index + 1);

/** A shop's page on its own origin, with hostile styles that must not reach the widget. */
function hostPage(scriptTag: string): string {
  return `<!doctype html><html><head><title>Shop</title><style>
    body { font: 40px Georgia, serif; background: #fafafa; }
    p, div, span { color: red !important; }
    button { background: lime !important; }
  </style></head><body><h1>Acme Shop</h1><p>Our products.</p>${scriptTag}</body></html>`;
}

async function startHost(pages: Record<string, string>): Promise<{ origin: string; close(): Promise<void> }> {
  const host: Server = createServer((request, response) => {
    const body = pages[request.url ?? '/'];
    response.writeHead(body === undefined ? 404 : 200, { 'content-type': 'text/html; charset=utf-8' });
    response.end(body ?? 'not found');
  });
  await new Promise<void>((resolve) => host.listen(0, '127.0.0.1', resolve));
  const { port } = host.address() as AddressInfo;
  return {
    origin: `http://127.0.0.1:${port}`,
    close: () => new Promise<void>((resolve) => host.close(() => resolve())),
  };
}

describe('widget size', () => {
  it('widget.js stays under 30 KB gzipped', () => {
    const widget = readFileSync(path.join(WEB_DIST_DIR, 'widget.js'));
    expect(gzipSync(widget, { level: 9 }).length).toBeLessThan(30 * 1024);
  });
});

describe.skipIf(!chromiumAvailable)('widget on another origin in Chromium', () => {
  let server: TestServer;
  let host: { origin: string; close(): Promise<void> };
  let browser: Browser;
  let page: Page;

  beforeAll(async () => {
    server = await startTestServer({ SAMPLE_CORPUS: 'true', ANSWER_CACHE: 'false' });
    const tag = (attributes: string): string =>
      `<script src="${server.url}/widget.js" data-chatbot="default" ${attributes}></script>`;
    host = await startHost({
      '/': hostPage(
        tag('data-title="Acme help" data-accent="#00aa77" data-greeting="Hi! Ask about our docs."'),
      ),
      '/ws': hostPage(tag('data-title="Acme help" data-transport="websocket"')),
      '/plain': hostPage(tag('')),
      '/stats': hostPage(tag('data-title="Acme help" data-stats')),
      '/dark': hostPage(
        tag('data-title="Acme help" data-theme="dark" data-position="left" data-open="true"'),
      ),
    });
    browser = await launchBrowser();
  });
  afterAll(async () => {
    await browser?.close();
    await host?.close();
    await server?.close();
  });
  beforeEach(async () => {
    server.upstream.reset();
    await page?.close();
    page = await browser.newPage();
  });

  const answer = (current: Page) => current.locator('#rivulet-widget .rv-assistant').last();
  const answerText = async (current: Page): Promise<string> =>
    (await answer(current).locator('.rv-answer').count()) === 0
      ? ''
      : answer(current).locator('.rv-answer').innerText();
  async function ask(current: Page, question: string): Promise<void> {
    await current.locator('#rivulet-widget').getByLabel('Your question').fill(question);
    await current.keyboard.press('Enter');
  }

  it('opens from its launcher, answers with sources over CORS, and keeps the page styles out', async () => {
    server.upstream.setScenario({ tokens: numberedTokens(40), interTokenMs: 10 });
    await page.goto(`${host.origin}/`);
    const launcher = page.locator('#rivulet-widget').getByRole('button', { name: 'Open chat' });
    await launcher.waitFor();
    // Themed by its attributes, untouched by the page's `button { background: lime !important }`.
    expect(await launcher.evaluate((element) => getComputedStyle(element).backgroundColor)).toBe(
      'rgb(0, 170, 119)',
    );
    expect(await page.evaluate(() => document.getElementById('rivulet-widget')?.shadowRoot !== null)).toBe(
      true,
    );
    await launcher.click();
    await page.locator('#rivulet-widget').getByText('Hi! Ask about our docs.').waitFor();

    await ask(page, 'How do I resume a stream after a network drop?');
    await answer(page).and(page.locator('[data-status="complete"]')).waitFor();
    expect(wordNumbers(await answerText(page))).toEqual(range(40));
    expect(await answer(page).locator('.rv-sources li').count()).toBeGreaterThan(0);
    const paragraph = answer(page).locator('.rv-answer p').first();
    const style = await paragraph.evaluate((element) => {
      const computed = getComputedStyle(element);
      return { color: computed.color, fontSize: computed.fontSize };
    });
    expect(style.color).not.toBe('rgb(255, 0, 0)');
    expect(style.fontSize).toBe('15px');
    await screenshot(page, 'widget');
  });

  it('resumes the answer that was streaming when the page reloaded, with no text repeated', async () => {
    server.upstream.setScenario({ tokens: numberedTokens(120), interTokenMs: 20 });
    await page.goto(`${host.origin}/`);
    await page.locator('#rivulet-widget').getByRole('button', { name: 'Open chat' }).click();
    await ask(page, 'Tell me about reloads.');
    await expect.poll(async () => wordNumbers(await answerText(page)).length).toBeGreaterThan(15);
    await page.reload();

    // The panel is open again and the same answer completes.
    await answer(page).and(page.locator('[data-status="complete"]')).waitFor();
    expect(wordNumbers(await answerText(page))).toEqual(range(120));
    expect(await page.locator('#rivulet-widget .rv-user').count()).toBe(1);
    expect(await page.locator('#rivulet-widget .rv-assistant').count()).toBe(1);
    expect(server.upstream.requests.length).toBe(1);
  });

  it('streams over WebSocket with data-transport="websocket" and stops for real', async () => {
    server.upstream.setScenario({ tokens: numberedTokens(400), interTokenMs: 20 });
    const sockets: string[] = [];
    page.on('websocket', (socket) => sockets.push(socket.url()));
    await page.goto(`${host.origin}/ws`);
    await page.locator('#rivulet-widget').getByRole('button', { name: 'Open chat' }).click();
    await ask(page, 'Stream this over a socket.');
    await expect.poll(async () => wordNumbers(await answerText(page)).length).toBeGreaterThan(5);
    expect(sockets).toEqual([`${server.url.replace('http', 'ws')}/api/ws`]);
    await page
      .locator('#rivulet-widget')
      .getByRole('button', { name: /Stop the answer/ })
      .click();
    await answer(page).and(page.locator('[data-status="stopped"]')).waitFor();
    expect((await server.upstream.waitForClose(1)).closedBy).toBe('client');
    const numbers = wordNumbers(await answerText(page));
    expect(numbers).toEqual(range(numbers.length));
  });

  it('greets visitors with a friendly line and hides developer stats unless data-stats is set', async () => {
    server.upstream.setScenario({ tokens: numberedTokens(10) });
    await page.goto(`${host.origin}/plain`);
    await page.locator('#rivulet-widget').getByRole('button', { name: 'Open chat' }).click();
    const greeting = page.locator('#rivulet-widget .rv-greeting');
    expect(await greeting.innerText()).toBe('Hi! How can I help you today?');
    await ask(page, 'Anything?');
    await answer(page).and(page.locator('[data-status="complete"]')).waitFor();
    // The footer keeps Copy, without the figures a visitor has no use for.
    await answer(page).getByRole('button', { name: 'Copy' }).waitFor();
    expect(await answer(page).locator('.rv-stats, .rv-timings').count()).toBe(0);

    const withStats = await browser.newPage();
    await withStats.goto(`${host.origin}/stats`);
    await withStats.locator('#rivulet-widget').getByRole('button', { name: 'Open chat' }).click();
    await ask(withStats, 'Anything with figures?');
    await answer(withStats).and(withStats.locator('[data-status="complete"]')).waitFor();
    expect(await answer(withStats).locator('.rv-stats').innerText()).toMatch(/first token .+ · total /);
    await withStats.close();
  });

  it('closes on Escape with focus back on the launcher, and Escape while streaming stops first', async () => {
    server.upstream.setScenario({ tokens: numberedTokens(300), interTokenMs: 20 });
    await page.goto(`${host.origin}/plain`);
    const widget = page.locator('#rivulet-widget');
    await widget.getByRole('button', { name: 'Open chat' }).click();
    await ask(page, 'A long answer, please.');
    await expect.poll(async () => wordNumbers(await answerText(page)).length).toBeGreaterThan(3);
    // The first Escape stops the answer (the panel stays), the second closes the panel.
    await page.keyboard.press('Escape');
    await answer(page).and(page.locator('[data-status="stopped"]')).waitFor();
    expect(await widget.locator('.rv-panel').count()).toBe(1);
    await widget.getByLabel('Your question').focus();
    await page.keyboard.press('Escape');
    await widget.locator('.rv-panel').waitFor({ state: 'detached' });
    const focused = await page.evaluate(
      () =>
        document.getElementById('rivulet-widget')?.shadowRoot?.activeElement?.getAttribute('aria-label') ??
        null,
    );
    expect(focused).toBe('Open chat');
    // Enter on the focused launcher opens it again, with the conversation kept.
    await page.keyboard.press('Enter');
    await widget.locator('.rv-panel').waitFor();
    expect(await widget.locator('.rv-assistant').count()).toBe(1);
  });

  it('starts a new conversation from its header, and a reload keeps the new one', async () => {
    server.upstream.setScenario({ tokens: numberedTokens(6) });
    await page.goto(`${host.origin}/plain`);
    const widget = page.locator('#rivulet-widget');
    await widget.getByRole('button', { name: 'Open chat' }).click();
    const fresh = widget.getByRole('button', { name: 'New conversation' });
    expect(await fresh.isDisabled()).toBe(true);
    await ask(page, 'First question.');
    await answer(page).and(page.locator('[data-status="complete"]')).waitFor();
    await fresh.click();
    expect(await widget.locator('.rv-msg').count()).toBe(0);
    await widget.locator('.rv-greeting').waitFor();
    await ask(page, 'Second question.');
    await answer(page).and(page.locator('[data-status="complete"]')).waitFor();
    await page.reload();
    await answer(page).and(page.locator('[data-status="complete"]')).waitFor();
    expect(await widget.locator('.rv-user').allInnerTexts()).toEqual(['Second question.']);
    expect(server.upstream.requests).toHaveLength(2);
  });

  it('after a reload mid-answer, the footer shows the answer’s own first-token time and total', async () => {
    // A slow first token (the figure to keep), then a paced answer to reload in the middle of.
    server.upstream.setScenario({ tokens: numberedTokens(80), ttftMs: 900, interTokenMs: 25 });
    await page.goto(`${host.origin}/stats`);
    await page.locator('#rivulet-widget').getByRole('button', { name: 'Open chat' }).click();
    await ask(page, 'Tell me slowly.');
    await expect
      .poll(async () => wordNumbers(await answerText(page)).length, { timeout: 20_000 })
      .toBeGreaterThan(10);
    await page.reload();
    await answer(page).and(page.locator('[data-status="complete"]')).waitFor();
    expect(wordNumbers(await answerText(page))).toEqual(range(80));

    // The server's own figures for this run, as stored with the answer.
    const { conversationId, sessionId } = await page.evaluate(() => {
      const key = Object.keys(sessionStorage).find((name) => name.startsWith('rivulet-widget:http')) ?? '';
      const saved = JSON.parse(sessionStorage.getItem(key) ?? '{}') as { conversationId?: string };
      return {
        conversationId: saved.conversationId,
        sessionId: localStorage.getItem('rivulet-widget:session'),
      };
    });
    const stored = (await (
      await fetch(`${server.url}/api/conversations/${conversationId}/messages`, {
        headers: { 'x-session-id': sessionId ?? '' },
      })
    ).json()) as { messages: { role: string; timings?: { ttftMs: number; totalMs: number } }[] };
    const timings = stored.messages.find((message) => message.role === 'assistant')?.timings;
    expect(timings?.ttftMs).toBeGreaterThanOrEqual(900);
    const footer = await answer(page).locator('.rv-stats').innerText();
    expect(footer).toContain(`first token ${formatMs(timings!.ttftMs)}`);
    expect(footer).toContain(`total ${formatMs(timings!.totalMs)}`);
  });

  it('shows visitors the quoted-passages banner with its code when the model fails, never what to fix', async () => {
    server.upstream.setScenario({ errorStatus: 401 });
    const diagnoses: string[] = [];
    page.on('request', (request) => {
      if (request.url().includes('/diagnosis')) diagnoses.push(request.url());
    });
    await page.goto(`${host.origin}/plain`);
    await page.locator('#rivulet-widget').getByRole('button', { name: 'Open chat' }).click();
    await ask(page, 'How do I resume a stream after a network drop?');
    await answer(page).and(page.locator('[data-status="complete"]')).waitFor();
    const notice = answer(page).locator('.rv-fallback');
    expect(await notice.innerText()).toContain(
      'The model is unavailable; here are the passages that answer it.',
    );
    expect(await notice.innerText()).toContain('UPSTREAM_AUTH_FAILED');
    expect(await answer(page).locator('.rv-admin-hint').count()).toBe(0);
    expect(await answer(page).innerText()).not.toMatch(/API_KEY|LLM_BASE_URL/);
    expect(diagnoses).toEqual([]);
  });

  it('takes its theme and position from attributes (dark, left, open at load)', async () => {
    server.upstream.setScenario({ tokens: numberedTokens(8) });
    await page.goto(`${host.origin}/dark`);
    const panel = page.locator('#rivulet-widget .rv-panel');
    await panel.waitFor();
    expect(await panel.evaluate((element) => getComputedStyle(element).backgroundColor)).toBe(
      'rgb(20, 23, 28)',
    );
    const box = await panel.boundingBox();
    expect(box?.x).toBeLessThan(100);
    await ask(page, 'Dark mode?');
    await answer(page).and(page.locator('[data-status="complete"]')).waitFor();
    await screenshot(page, 'widget-dark');
  });
});

describe.skipIf(!chromiumAvailable)(
  'widget with auth required: a public chatbot for anonymous visitors',
  () => {
    let server: TestServer;
    let allowedHost: { origin: string; close(): Promise<void> };
    let otherHost: { origin: string; close(): Promise<void> };
    let browser: Browser;

    beforeAll(async () => {
      server = await startTestServer({
        AUTH_MODE: 'required',
        AUTH_JWT_SECRET: 'a-test-secret-that-is-at-least-32-chars',
        ANSWER_CACHE: 'false',
      });
      const tag = `<script src="${server.url}/widget.js" data-chatbot="shop" data-title="Shop help"></script>`;
      allowedHost = await startHost({ '/': hostPage(tag) });
      otherHost = await startHost({ '/': hostPage(tag) });
      await putTestChatbot(server, 'shop', { allowedOrigins: [allowedHost.origin] });
      browser = await launchBrowser();
    });
    afterAll(async () => {
      await browser?.close();
      await allowedHost?.close();
      await otherHost?.close();
      await server?.close();
    });

    it('answers visitors of an allowed site, each with their own session', async () => {
      server.upstream.setScenario({ tokens: numberedTokens(12) });
      const page = await browser.newPage();
      const sessions: string[] = [];
      page.on('request', (request) => {
        const session = request.headers()['x-session-id'];
        if (session !== undefined) sessions.push(session);
      });
      await page.goto(`${allowedHost.origin}/`);
      await page.locator('#rivulet-widget').getByRole('button', { name: 'Open chat' }).click();
      await page.locator('#rivulet-widget').getByLabel('Your question').fill('Do you ship abroad?');
      await page.keyboard.press('Enter');
      const answer = page.locator('#rivulet-widget .rv-assistant').last();
      await answer.and(page.locator('[data-status="complete"]')).waitFor();
      expect(wordNumbers(await answer.locator('.rv-answer').innerText())).toEqual(range(12));
      expect(new Set(sessions).size).toBe(1);
      expect(sessions[0]).toMatch(/^[0-9a-f]{32}$/);
      await page.close();
    });

    it('refuses visitors of a site the chatbot does not allow, with a clear message', async () => {
      server.upstream.reset();
      const page = await browser.newPage();
      await page.goto(`${otherHost.origin}/`);
      await page.locator('#rivulet-widget').getByRole('button', { name: 'Open chat' }).click();
      await page.locator('#rivulet-widget').getByLabel('Your question').fill('Hello?');
      await page.keyboard.press('Enter');
      const answer = page.locator('#rivulet-widget .rv-assistant').last();
      await answer.and(page.locator('[data-status="failed"]')).waitFor();
      expect(await answer.locator('.rv-error').innerText()).toMatch(
        /does not accept anonymous visitors from this site/,
      );
      expect(await answer.locator('.rv-error').innerText()).toContain('ORIGIN_NOT_ALLOWED');
      expect(server.upstream.requests).toHaveLength(0);
      await page.close();
    });
  },
);
