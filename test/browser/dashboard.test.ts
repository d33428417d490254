// The metrics dashboard (#/dashboard) in real Chromium against a real server: answers run through POST /api/chat
// (some failing with a code), then the tiles, the charts, the legend, the filters and the 5 s refresh are checked
// as a user sees them, with a screenshot in each theme.

import type { Locator, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromiumAvailable, launchBrowser, screenshot, type Browser } from '../helpers/browser.ts';
import { startTestServer, type TestServer } from '../helpers/test-server.ts';
import { milliseconds } from '../../web/app/dashboard/format.ts';
import type { StatsResponse } from '../../web/client/index.ts';

const OK = { tokenCount: 16, ttftMs: 120, interTokenMs: 12 };

/** One answer through POST /api/chat; the error code when it failed. */
async function ask(server: TestServer, message: string, chatbotId?: string): Promise<string | null> {
  const response = await fetch(`${server.url}/api/chat`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ message, ...(chatbotId === undefined ? {} : { chatbotId }) }),
  });
  const body = (await response.json()) as { error?: { code: string } };
  return response.ok ? null : (body.error?.code ?? `HTTP_${response.status}`);
}

/** A summary tile's big figure and its note, by the tile's label. */
function tile(page: Page, label: string): { value: Locator; note: Locator } {
  const box = page.locator('.dash-tile', { has: page.locator('dt', { hasText: label }) });
  return { value: box.locator('.dash-value'), note: box.locator('.dash-note') };
}

const chart = (page: Page, title: string): Locator =>
  page.locator('figure.dash-card', { has: page.locator('h3', { hasText: title }) });

function statsRequest(page: Page, filter: Record<string, string | null>) {
  return page.waitForRequest((request) => {
    const url = new URL(request.url());
    if (url.pathname !== '/api/stats') return false;
    return Object.entries(filter).every(([key, value]) => url.searchParams.get(key) === value);
  });
}

/** WCAG contrast ratio of two computed CSS colours (rgb(...) strings). */
function contrast(a: string, b: string): number {
  const luminance = (color: string): number => {
    const [r, g, bl] = (color.match(/[\d.]+/g) ?? []).slice(0, 3).map((part) => {
      const channel = Number(part) / 255;
      return channel <= 0.03928 ? channel / 12.92 : ((channel + 0.055) / 1.055) ** 2.4;
    });
    return 0.2126 * (r ?? 0) + 0.7152 * (g ?? 0) + 0.0722 * (bl ?? 0);
  };
  const [light, dark] = [luminance(a), luminance(b)].sort((x, y) => y - x);
  return ((light ?? 0) + 0.05) / ((dark ?? 0) + 0.05);
}

/** The "Runs" bars' fill and the card's background behind them. */
async function runsBarColours(page: Page): Promise<{ bar: string; card: string }> {
  const card = chart(page, 'Runs and errors');
  return {
    bar: await card
      .locator('rect.dash-runs')
      .first()
      .evaluate((node) => getComputedStyle(node).fill),
    card: await card.evaluate((node) => getComputedStyle(node).backgroundColor),
  };
}

async function waitForCharts(page: Page): Promise<void> {
  await page.locator('.dash-tile').first().waitFor();
  await page.locator('.dash-card svg[role="img"]').nth(3).waitFor();
}

describe.skipIf(!chromiumAvailable)('dashboard in Chromium', () => {
  let server: TestServer;
  let browser: Browser;
  const failures: string[] = [];

  beforeAll(async () => {
    server = await startTestServer({ LLM_RETRIES: '0', ANSWER_CACHE: 'false' }, OK);
    await server.app.stores.chatbots.putChatbot({
      id: 'support',
      name: 'Support',
      collectionId: 'support',
      systemPrompt: null,
      temperature: null,
      maxTokens: null,
      glossary: [],
    });
    // Four answers for the default chatbot (one failing upstream), two for "support" (one refused upstream).
    for (const message of ['How do I install it?', 'What is a run?', 'How do streams resume?']) {
      expect(await ask(server, message)).toBeNull();
    }
    server.upstream.enqueue({ errorStatus: 500 });
    failures.push((await ask(server, 'Is the upstream down?')) ?? 'none');
    expect(await ask(server, 'Where are the logs?', 'support')).toBeNull();
    // A 400 before the first token is retried once without streaming: refused twice, the run fails.
    server.upstream.enqueue({ errorStatus: 400 }, { errorStatus: 400 });
    failures.push((await ask(server, 'A question the model refuses', 'support')) ?? 'none');
    await server.app.chat.settled();
    expect(failures).toEqual(['UPSTREAM_UNAVAILABLE', 'UPSTREAM_BAD_REQUEST']);
    browser = await launchBrowser();
  });
  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  it('shows runs, errors by code and TTFT of the last hour, filters per chatbot and provider, refreshes', async () => {
    const page = await browser.newPage();
    const firstLoad = statsRequest(page, { chatbotId: null, provider: null });
    await page.goto(`${server.url}/#/dashboard`);
    await firstLoad;
    await waitForCharts(page);
    expect(await page.getByRole('link', { name: 'Dashboard' }).getAttribute('aria-current')).toBe('page');

    // The tiles count what was sent: 6 runs, 2 failed.
    expect(await tile(page, 'Runs').value.innerText()).toBe('6');
    expect(await tile(page, 'Error rate').value.innerText()).toBe('33.3%');
    expect(await tile(page, 'Error rate').note.innerText()).toBe('2 of 6 runs failed');
    // The TTFT tiles show the server's merged percentiles of the last 5 minutes, as they are.
    const stats = (await (await fetch(`${server.url}/api/stats`)).json()) as StatsResponse;
    expect(stats.recent.ttftP50Ms).not.toBeNull();
    expect(await tile(page, 'TTFT p50').value.innerText()).toBe(milliseconds(stats.recent.ttftP50Ms ?? 0));
    expect(await tile(page, 'TTFT p95').value.innerText()).toBe(milliseconds(stats.recent.ttftP95Ms ?? 0));
    expect(await tile(page, 'TTFT p50').note.innerText()).toBe('last 5 minutes');
    // The runs bars stand out from the card (3:1, the WCAG minimum for graphics).
    const light = await runsBarColours(page);
    expect(contrast(light.bar, light.card)).toBeGreaterThanOrEqual(3);
    expect(await tile(page, 'Active streams').value.innerText()).toBe('0');

    // The errors chart's legend names both failing codes, beside the runs.
    const legend = await chart(page, 'Runs and errors').locator('.dash-legend li').allInnerTexts();
    expect(legend.map((text) => text.trim())).toEqual(['Runs', ...[...failures].sort()]);
    const runsChart = chart(page, 'Runs and errors').locator('svg[role="img"]');
    expect(await runsChart.getAttribute('aria-label')).toMatch(/6 runs in the last hour, 2 failed/);
    expect(await runsChart.locator('.dash-bars rect').count()).toBeGreaterThanOrEqual(3);

    // The TTFT chart draws its p50 and p95 lines (or dots, when all runs fell in one minute), labelled accessibly.
    const ttft = chart(page, 'Time to first token');
    const paths = await ttft
      .locator('.dash-line path')
      .evaluateAll((nodes) => nodes.map((node) => node.getAttribute('d') ?? ''));
    expect(paths).toHaveLength(2);
    for (const d of paths) expect(d).toMatch(/^M\d/);
    expect(await ttft.locator('svg[role="img"]').getAttribute('aria-label')).toMatch(
      /^Time to first token at \d\d:\d\d: p50 \d+ ms, p95 \d+ ms$/,
    );
    expect(await ttft.locator('table caption').innerText()).toMatch(/Time to first token, per minute/);
    // The time axis is labelled every 15 minutes as HH:MM.
    const ticks = await ttft.locator('text.dash-axis').allTextContents();
    expect(ticks.filter((text) => /^\d\d:(00|15|30|45)$/.test(text)).length).toBeGreaterThanOrEqual(3);
    expect(await chart(page, 'Tokens per second').locator('.dash-line path').getAttribute('d')).toMatch(
      /^M\d/,
    );
    await screenshot(page, 'dashboard');

    // Filtering by chatbot asks the server for that chatbot only, and the figures follow.
    const bySupport = statsRequest(page, { chatbotId: 'support', provider: null });
    await page.getByLabel('Chatbot').selectOption('support');
    await bySupport;
    await expect.poll(() => tile(page, 'Runs').value.innerText()).toBe('2');
    expect(await tile(page, 'Error rate').note.innerText()).toBe('1 of 2 runs failed');
    expect(
      (await chart(page, 'Runs and errors').locator('.dash-legend li').allInnerTexts()).map((t) => t.trim()),
    ).toEqual(['Runs', 'UPSTREAM_BAD_REQUEST']);

    // And by provider, combined with the chatbot.
    const byProvider = statsRequest(page, { chatbotId: 'support', provider: 'openai-compatible' });
    await page.getByLabel('Provider').selectOption('openai-compatible');
    await byProvider;
    await expect.poll(() => tile(page, 'Runs').value.innerText()).toBe('2');
    expect(await tile(page, 'Active streams').note.innerText()).toMatch(/all chatbots and providers/);

    // Back to everything: a new answer shows up by itself within the 5 s refresh.
    const all = statsRequest(page, { chatbotId: null, provider: null });
    await page.getByLabel('Chatbot').selectOption('');
    await page.getByLabel('Provider').selectOption('');
    await all;
    await expect.poll(() => tile(page, 'Runs').value.innerText()).toBe('6');
    expect(await ask(server, 'One more question')).toBeNull();
    await expect.poll(() => tile(page, 'Runs').value.innerText(), { timeout: 8000 }).toBe('7');
    await page.close();
  });

  it('shows a failing /api/stats with its code, keeping the last figures', async () => {
    const page = await browser.newPage();
    await page.goto(`${server.url}/#/dashboard`);
    await waitForCharts(page);
    await page.route('**/api/stats*', (route) =>
      route.fulfill({
        status: 503,
        contentType: 'application/json',
        body: JSON.stringify({ error: { code: 'SHUTTING_DOWN', message: 'The server is shutting down.' } }),
      }),
    );
    await page.getByLabel('Chatbot').selectOption('support');
    const alert = page.getByRole('alert');
    await expect.poll(() => alert.innerText()).toMatch(/The server is shutting down\.\s+SHUTTING_DOWN/);
    expect(await page.locator('.dash-tile').count()).toBe(5);
    await page.close();
  });

  it('follows the dark theme', async () => {
    const dark = await launchBrowser({ colorScheme: 'dark' });
    try {
      const page = await dark.newPage();
      await page.goto(`${server.url}/#/dashboard`);
      await waitForCharts(page);
      expect(await page.locator('.app').getAttribute('data-theme')).toBe('dark');
      // The charts take their colours from the theme: the p50 line is the dark theme's accent.
      const stroke = await chart(page, 'Time to first token')
        .locator('.dash-line path')
        .first()
        .evaluate((node) => getComputedStyle(node).stroke);
      expect(stroke).toBe('rgb(109, 158, 255)');
      // The runs bars were nearly invisible on the dark card (1.8:1).
      const colours = await runsBarColours(page);
      expect(contrast(colours.bar, colours.card)).toBeGreaterThanOrEqual(3);
      await screenshot(page, 'dashboard-dark');
    } finally {
      await dark.close();
    }
  });
});
