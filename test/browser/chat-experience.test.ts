// The web app's chat as people use it, in real Chromium at a desktop size (1280x800) and a phone size (390x844),
// against a real server over the bundled guide: the phone drawer, no sideways scrolling, tables that scroll inside
// themselves, citation previews on hover and keyboard focus that open their passage, code blocks that copy, the
// history by keyboard (search, rename, delete with confirmation), the skip link, jump to latest, starters.

import type { Locator, Page } from 'playwright-core';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { chromiumAvailable, launchBrowser, screenshot, type Browser } from '../helpers/browser.ts';
import { startTestServer, type TestServer } from '../helpers/test-server.ts';

const DESKTOP = { width: 1280, height: 800 };
const PHONE = { width: 390, height: 844 };

/** An answer with a wide table (long code words), a code block and citations, in small tokens. */
const TABLE_ANSWER = [
  '## Settings that shape a stream\n\n',
  'A run outlives its connection [1], and a client resumes with its last event id [2].\n\n',
  '| setting | default | what it changes for a reader of the stream |\n| --- | ---: | --- |\n',
  '| `RUN_GRACE_MS` | 30000 | how long a run waits for a reader to come back after a disconnect |\n',
  '| `SSE_PING_MS` | 15000 | how often a comment line keeps proxies from closing an idle stream |\n\n',
  '```ts\nconst source = new EventSource(`/api/runs/${runId}/events`);\n```\n\n',
  'That is all [1].',
].join('');
const CODE = 'const source = new EventSource(`/api/runs/${runId}/events`);';
const tokens = (text: string, size = 4): string[] => text.match(new RegExp(`[\\s\\S]{1,${size}}`, 'g')) ?? [];

const lastAnswer = (page: Page) => page.locator('.rv-assistant').last();

/** How far the conversation's end is below what the reader sees, in px. */
const distanceFromEnd = (messages: Locator): Promise<number> =>
  messages.evaluate((element) => element.scrollHeight - element.scrollTop - element.clientHeight);

async function ask(page: Page, question: string): Promise<void> {
  await page.getByLabel('Your question').fill(question);
  await page.keyboard.press('Enter');
}

/** Nothing scrolls the page sideways. */
async function pageOverflow(page: Page): Promise<{ scrollWidth: number; innerWidth: number }> {
  return page.evaluate(() => ({
    scrollWidth: document.scrollingElement?.scrollWidth ?? 0,
    innerWidth: window.innerWidth,
  }));
}

describe.skipIf(!chromiumAvailable)('web app chat experience in Chromium', () => {
  let server: TestServer;
  let browser: Browser;
  let page: Page;

  beforeAll(async () => {
    server = await startTestServer({ SAMPLE_CORPUS: 'true', ANSWER_CACHE: 'false' });
    browser = await launchBrowser();
    await browser.context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: server.url });
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

  for (const [name, size] of [
    ['desktop', DESKTOP],
    ['phone', PHONE],
  ] as const) {
    it(`${name}: nothing scrolls sideways; a wide table scrolls inside itself without breaking words`, async () => {
      await page.setViewportSize(size);
      server.upstream.setScenario({ tokens: tokens(TABLE_ANSWER), interTokenMs: 2 });
      await page.goto(server.url);
      // The theme toggle keeps its size: switching moves nothing.
      const toggle = page.locator('.app-theme');
      const before = await toggle.boundingBox();
      await toggle.click();
      expect(await toggle.boundingBox()).toEqual(before);
      await toggle.click();
      await ask(page, 'Which settings shape a stream?');
      await lastAnswer(page).and(page.locator('[data-status="complete"]')).waitFor();

      const overflow = await pageOverflow(page);
      expect(overflow.scrollWidth).toBeLessThanOrEqual(overflow.innerWidth);
      const header = await page.locator('.app-header').boundingBox();
      expect(header?.width).toBeLessThanOrEqual(size.width);

      const table = lastAnswer(page).locator('.rv-table');
      const fits = await table.evaluate((element) => ({
        scrollWidth: element.scrollWidth,
        clientWidth: element.clientWidth,
        overflowX: getComputedStyle(element).overflowX,
      }));
      expect(fits.overflowX).toBe('auto');
      if (name === 'phone') expect(fits.scrollWidth).toBeGreaterThan(fits.clientWidth);
      // A code word in a cell stays on one line ("RUN_GRA CE_MS" was cut in two).
      const lines = await table
        .locator('td code', { hasText: 'RUN_GRACE_MS' })
        .evaluate((element) => element.getClientRects().length);
      expect(lines).toBe(1);
      await screenshot(page, `chat-table-${name}`);
    });
  }

  it('phone: the menu opens a drawer with New chat and the history; choosing one closes it', async () => {
    await page.setViewportSize(PHONE);
    server.upstream.setScenario({ tokens: ['First ', 'answer.'] });
    await page.goto(server.url);
    await ask(page, 'What is the first question?');
    await lastAnswer(page).and(page.locator('[data-status="complete"]')).waitFor();
    const firstUrl = page.url();

    const menu = page.getByRole('button', { name: 'Conversations' });
    const sidebar = page.locator('#app-sidebar');
    expect(await sidebar.isVisible()).toBe(false);
    await menu.click();
    expect(await menu.getAttribute('aria-expanded')).toBe('true');
    await expect.poll(() => sidebar.getByRole('button', { name: 'New chat' }).isVisible()).toBe(true);
    await screenshot(page, 'chat-drawer-phone');
    await sidebar.getByRole('button', { name: 'New chat' }).click();
    await expect.poll(() => sidebar.isVisible()).toBe(false);
    expect(await page.locator('.rv-assistant').count()).toBe(0);

    await menu.click();
    await sidebar.getByRole('link', { name: 'What is the first question?' }).click();
    await expect.poll(() => page.url()).toBe(firstUrl);
    await expect.poll(() => sidebar.isVisible()).toBe(false);
    await lastAnswer(page).and(page.locator('[data-status="complete"]')).waitFor();
    // Escape closes the drawer too.
    await menu.click();
    await page.keyboard.press('Escape');
    await expect.poll(() => sidebar.isVisible()).toBe(false);
    const overflow = await pageOverflow(page);
    expect(overflow.scrollWidth).toBeLessThanOrEqual(overflow.innerWidth);
  });

  for (const [name, size] of [
    ['desktop', DESKTOP],
    ['phone', PHONE],
  ] as const) {
    it(`${name}: a citation previews its source on hover and on keyboard focus, and opens its passage`, async () => {
      await page.setViewportSize(size);
      server.upstream.setScenario({ answer: 'markdown' });
      await page.goto(server.url);
      await ask(page, 'How does a client resume an answer after its connection dropped?');
      await lastAnswer(page).and(page.locator('[data-status="complete"]')).waitFor();
      // The sources list is folded: no inner scroller, the answer comes first.
      expect(await lastAnswer(page).locator('details.rv-sources').getAttribute('open')).toBeNull();

      const pill = lastAnswer(page).locator('a.rv-cite[data-cite="1"]').first();
      const tipId = await pill.getAttribute('aria-describedby');
      const tip = page.locator(`[id="${tipId}"]`);
      expect(await tip.getAttribute('role')).toBe('tooltip');
      expect(await tip.isVisible()).toBe(false);

      await pill.hover();
      await expect.poll(() => tip.isVisible()).toBe(true);
      const text = await tip.innerText();
      const sourceTitle = await lastAnswer(page)
        .locator('.rv-sources li')
        .first()
        .locator('.rv-source-title')
        .textContent();
      expect(text).toContain(sourceTitle ?? '');
      expect(await tip.locator('mark').innerText()).not.toBe('');
      // The preview stays on the screen.
      const box = await tip.boundingBox();
      expect((box?.x ?? -1) >= 0 && (box?.x ?? 0) + (box?.width ?? 0) <= size.width).toBe(true);
      await screenshot(page, `chat-citation-${name}`);
      await page.mouse.move(0, 0);
      await expect.poll(() => tip.isVisible()).toBe(false);

      // Keyboard: focus shows the same preview; Escape hides it; Enter opens the passage.
      await pill.focus();
      await expect.poll(() => tip.isVisible()).toBe(true);
      await page.keyboard.press('Escape');
      await expect.poll(() => tip.isVisible()).toBe(false);
      const mark = (await tip.locator('mark').textContent()) ?? '';
      const [opened] = await Promise.all([page.context().waitForEvent('page'), pill.press('Enter')]);
      await opened.setViewportSize(size);
      await opened.locator('.app-passage h1').waitFor();
      expect(await opened.locator('.app-passage h1').innerText()).not.toBe('');
      const highlighted = (await opened.locator('.app-passage mark').innerText()).replace(/\s+/g, ' ');
      expect(highlighted).toBe(mark.replace(/…$/, '').trim());
      await screenshot(opened, `passage-${name}`);
      await opened.close();
    });
  }

  it('code blocks show their language, copy to the clipboard, and are highlighted once finished', async () => {
    server.upstream.setScenario({ tokens: tokens(TABLE_ANSWER), interTokenMs: 2 });
    await page.goto(server.url);
    await ask(page, 'Show me the code.');
    await lastAnswer(page).and(page.locator('[data-status="complete"]')).waitFor();
    const block = lastAnswer(page).locator('.rv-code-block');
    expect(await block.locator('.rv-code-lang').innerText()).toBe('ts');
    await expect.poll(() => block.locator('code.hljs .hljs-keyword').count()).toBeGreaterThan(0);
    expect(await block.locator('code').innerText()).toBe(CODE);
    await block.getByRole('button', { name: 'Copy code' }).click();
    await expect.poll(() => block.locator('.rv-code-copy').innerText()).toBe('Copied');
    expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(CODE);
  });

  it('keyboard only: the skip link reaches the composer; Tab reaches the history, rename and delete', async () => {
    // Alone in the history (the tests before left conversations of the same open-install user).
    const { conversations } = (await (await fetch(`${server.url}/api/conversations?limit=200`)).json()) as {
      conversations: { id: string }[];
    };
    for (const { id } of conversations)
      await fetch(`${server.url}/api/conversations/${id}`, { method: 'DELETE' });
    await page.setViewportSize(DESKTOP);
    server.upstream.setScenario({ tokens: ['An ', 'answer.'] });
    await page.goto(server.url);
    await ask(page, 'Keep this conversation');
    await lastAnswer(page).and(page.locator('[data-status="complete"]')).waitFor();
    await ask(page, 'Another question');
    await lastAnswer(page).and(page.locator('[data-status="complete"]')).waitFor();
    await expect.poll(() => page.locator('.app-conversation').count()).toBe(1);
    await page.getByRole('button', { name: 'New chat' }).click();
    await ask(page, 'Delete this one');
    await lastAnswer(page).and(page.locator('[data-status="complete"]')).waitFor();
    await expect.poll(() => page.locator('.app-conversation').count()).toBe(2);

    await page.reload();
    await page.getByLabel('Your question').waitFor();
    // Tab from the top of the page, as a keyboard user arriving does.
    await page.evaluate(() => {
      document.body.tabIndex = -1;
      document.body.focus();
      document.body.removeAttribute('tabindex');
    });
    await page.keyboard.press('Tab');
    expect(await page.evaluate(() => document.activeElement?.textContent)).toBe('Skip to the question box');
    await page.keyboard.press('Enter');
    await expect.poll(() => page.evaluate(() => document.activeElement?.id)).toBe('composer');

    /** Presses Tab until the focused element's accessible name matches, at most `max` times. */
    const tabTo = async (name: RegExp, max = 30): Promise<void> => {
      for (let step = 0; step < max; step++) {
        await page.keyboard.press('Tab');
        const label = await page.evaluate(
          () =>
            document.activeElement?.getAttribute('aria-label') ?? document.activeElement?.textContent ?? '',
        );
        if (name.test(label)) return;
      }
      throw new Error(`Tab never reached ${name}`);
    };
    await tabTo(/^Search conversations$/);
    await page.keyboard.type('delete');
    await expect.poll(() => page.locator('.app-conversation').count()).toBe(1);
    await page.keyboard.press('Control+A');
    await page.keyboard.press('Backspace');
    await expect.poll(() => page.locator('.app-conversation').count()).toBe(2);
    expect(await page.locator('.app-group-title').first().innerText()).toMatch(/today/i);

    // Rename the first one.
    await tabTo(/^Rename “Delete this one”$/);
    await page.keyboard.press('Enter');
    await page.keyboard.type('Gone soon');
    await page.keyboard.press('Enter');
    await expect.poll(() => page.locator('.app-conversation a').first().innerText()).toBe('Gone soon');

    // Delete asks first; Cancel keeps it; Delete removes it on the server.
    await tabTo(/^Delete “Gone soon”$/, 3);
    await page.keyboard.press('Enter');
    await expect.poll(() => page.evaluate(() => document.activeElement?.textContent)).toBe('Cancel');
    await page.keyboard.press('Enter');
    expect(await page.locator('.app-conversation').count()).toBe(2);
    await expect
      .poll(() => page.evaluate(() => document.activeElement?.getAttribute('aria-label')))
      .toBe('Rename “Gone soon”');
    await page.keyboard.press('Tab');
    await page.keyboard.press('Enter');
    await page.keyboard.press('Shift+Tab');
    expect(await page.evaluate(() => document.activeElement?.textContent)).toBe('Delete');
    await page.keyboard.press('Enter');
    await expect.poll(() => page.locator('.app-conversation').count()).toBe(1);
    const listed = (await (await fetch(`${server.url}/api/conversations`)).json()) as {
      conversations: { title: string }[];
    };
    expect(listed.conversations.map((item) => item.title)).toEqual(['Keep this conversation']);
  });

  /** Asks on a phone-sized page; resolves once the streaming answer is `screens` screens tall. */
  async function askUntilTall(question: string, screens: number): Promise<Locator> {
    await page.setViewportSize(PHONE);
    await page.goto(server.url);
    await ask(page, question);
    const messages = page.locator('.rv-messages');
    await expect
      .poll(
        () =>
          messages.evaluate((element, times) => element.scrollHeight > element.clientHeight * times, screens),
        {
          timeout: 30_000,
        },
      )
      .toBe(true);
    return messages;
  }

  /**
   * A long answer (three paragraphs every 250 ms, so it grows while a smooth scroll is under way) the reader scrolled
   * up from: "Jump to latest" is offered.
   */
  async function scrolledUpInLongAnswer(): Promise<Locator> {
    const parts = Array.from({ length: 48 }, (_, index) => `Part ${index + 1}.\n\nMore.\n\nAnd more.\n\n`);
    server.upstream.setScenario({ tokens: parts, interTokenMs: 250 });
    const messages = await askUntilTall('Write a long answer.', 2);
    await messages.hover();
    await page.mouse.wheel(0, -3000);
    await page.getByRole('button', { name: /Jump to latest/ }).waitFor();
    return messages;
  }

  it('offers to jump to the latest text once the reader scrolled up during an answer', async () => {
    server.upstream.setScenario({ answer: 'markdown', interTokenMs: 30 });
    const messages = await askUntilTall('How do I stop an answer that is still being generated?', 1.5);
    expect(await page.getByRole('button', { name: /Jump to latest/ }).count()).toBe(0);
    await messages.hover();
    await page.mouse.wheel(0, -2000);
    const jump = page.getByRole('button', { name: /Jump to latest/ });
    await jump.waitFor();
    expect(await lastAnswer(page).getAttribute('data-status')).toBe('streaming');
    await screenshot(page, 'chat-jump-phone');
    await jump.click();
    await expect.poll(() => distanceFromEnd(messages), { timeout: 10_000 }).toBeLessThan(60);
    await expect.poll(() => jump.count()).toBe(0);
  });

  it('after the jump, keeps following an answer that grows while the view scrolls down', async () => {
    const messages = await scrolledUpInLongAnswer();
    // Clicked just after a token landed, so the scroll is still moving when the next ones arrive.
    await messages.evaluate(
      (element) =>
        new Promise<void>((resolve) => {
          const observer = new MutationObserver(() => {
            observer.disconnect();
            element.parentElement?.querySelector<HTMLButtonElement>('.rv-jump')?.click();
            resolve();
          });
          observer.observe(element, { subtree: true, childList: true, characterData: true });
        }),
    );
    expect(await lastAnswer(page).getAttribute('data-status')).toBe('streaming');
    await lastAnswer(page).and(page.locator('[data-status="complete"]')).waitFor({ timeout: 30_000 });
    await expect.poll(() => distanceFromEnd(messages), { timeout: 10_000 }).toBeLessThan(60);
    expect(await page.getByRole('button', { name: /Jump to latest|Back to the end/ }).count()).toBe(0);
    // The jump is over: the reader's next scroll up counts again.
    await page.mouse.wheel(0, -1000);
    await page.getByRole('button', { name: /Back to the end/ }).waitFor();
  });

  it('a scroll up while the jump is under way, by any means, leaves the reader where they went', async () => {
    const messages = await scrolledUpInLongAnswer();
    // While the jump moves down, the page scrolls up without any input event on the list, as find in page or a
    // screen reader does.
    await messages.evaluate(
      (element) =>
        new Promise<void>((resolve) => {
          const onScroll = (): void => {
            if (element.scrollTop < 300) return;
            element.removeEventListener('scroll', onScroll);
            element.scrollTop = 100;
            resolve();
          };
          element.addEventListener('scroll', onScroll);
          element.parentElement?.querySelector<HTMLButtonElement>('.rv-jump')?.click();
        }),
    );
    // More of the answer arrives, and the view stays well above its end, where the reader went.
    const height = await messages.evaluate((element) => element.scrollHeight);
    await expect
      .poll(() => messages.evaluate((element) => element.scrollHeight), { timeout: 10_000 })
      .toBeGreaterThan(height + 300);
    expect(await distanceFromEnd(messages)).toBeGreaterThan(1000);
    await page.getByRole('button', { name: /Jump to latest/ }).waitFor();
    expect(await lastAnswer(page).getAttribute('data-status')).toBe('streaming');
  });

  it('shows starter questions in an empty chat; one click asks it', async () => {
    server.upstream.setScenario({ tokens: ['Started.'] });
    await page.goto(server.url);
    const starters = page.getByRole('list', { name: 'Example questions' }).getByRole('button');
    expect(await starters.count()).toBeGreaterThan(1);
    const question = await starters.first().innerText();
    await starters.first().click();
    await lastAnswer(page).and(page.locator('[data-status="complete"]')).waitFor();
    expect(await page.locator('.rv-user').innerText()).toBe(question);
  });
});
