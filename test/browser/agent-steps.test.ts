// An agent answer in the web app, in real Chromium against a real server and the fake upstream: the
// search_documents step shows up while the model is still writing its input ("Searching documents for ..."), turns
// into a done row with its passage count, then the answer streams below it; a reload shows the stored step and answer.

import type { Page } from 'playwright-core';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { DEFAULT_CHATBOT_ID } from '../../src/core/chatbots.ts';
import { chromiumAvailable, launchBrowser, screenshot, type Browser } from '../helpers/browser.ts';
import { putTestChatbot, startTestServer, type TestServer } from '../helpers/test-server.ts';

/** An answer whose words are numbered, so a repeated or missing piece of text is visible in the DOM. */
const ANSWER = Array.from({ length: 40 }, (_, index) => `w${index + 1} `);
const wordNumbers = (text: string): number[] =>
  [...text.matchAll(/w(\d+)/g)].map((match) => Number(match[1]));
const chatRequests = (server: TestServer): number =>
  server.upstream.requests.filter((request) => request.url.includes('chat/completions')).length;

const QUERY = 'resume a stream after a network drop';

const lastAnswer = (page: Page) => page.locator('.rv-assistant').last();
const answerText = async (page: Page): Promise<string> =>
  (await lastAnswer(page).locator('.rv-answer').count()) === 0
    ? ''
    : lastAnswer(page).locator('.rv-answer').innerText();
const toolRow = (page: Page) => lastAnswer(page).locator('.rv-tool[data-tool="search_documents"]');

describe.skipIf(!chromiumAvailable)('agent steps in the web app', () => {
  let server: TestServer;
  let browser: Browser;
  let page: Page;

  beforeAll(async () => {
    server = await startTestServer({ SAMPLE_CORPUS: 'true', ANSWER_CACHE: 'false' });
    // The app asks the default chatbot: give it tools, over the sample corpus it already answers from.
    const existing = await server.app.stores.chatbots.getChatbot(DEFAULT_CHATBOT_ID);
    await putTestChatbot(server, DEFAULT_CHATBOT_ID, {
      ...(existing ?? {}),
      tools: { searchDocuments: true, maxSteps: 5, mcpServers: [], allowedTools: null },
    });
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

  it('shows the search step while its input streams, then its passage count, then the answer; again after a reload', async () => {
    server.upstream.setScenario({
      steps: [
        {
          toolCalls: [{ name: 'search_documents', arguments: { query: QUERY } }],
          argumentChunkChars: 3,
          interTokenMs: 80,
        },
        { tokens: ANSWER, ttftMs: 200, interTokenMs: 60 },
      ],
    });
    await page.goto(server.url);
    await page.getByLabel('Your question').fill('How do I resume a stream after a network drop?');
    await page.keyboard.press('Enter');

    // The row is there while the model is still writing the call's input: a part of the query, no answer yet.
    const writing = toolRow(page).and(page.locator('[data-state="writing"]'));
    await writing.waitFor();
    await expect
      .poll(() => writing.locator('.rv-tool-summary').innerText())
      .toMatch(/^Searching documents for “/);
    const partial = /“(.*)”/.exec(await writing.locator('.rv-tool-summary').innerText())?.[1] ?? '';
    expect(QUERY.startsWith(partial)).toBe(true);
    expect(partial.length).toBeLessThan(QUERY.length);
    expect(await answerText(page)).toBe('');

    // Then the search ran: a done row with the whole query and its passage count, still before any answer text.
    const done = toolRow(page).and(page.locator('[data-state="done"]'));
    await done.waitFor();
    expect(await done.locator('.rv-tool-summary').innerText()).toBe(`Searched documents for “${QUERY}”`);
    expect(await done.locator('.rv-tool-count').innerText()).toMatch(/^[1-9]\d* passages?$/);
    const passages = await done.locator('.rv-tool-count').innerText();

    // The answer streams below the step: seen part-written, then whole.
    await expect.poll(async () => wordNumbers(await answerText(page)).length).toBeGreaterThan(0);
    expect(wordNumbers(await answerText(page)).length).toBeLessThan(ANSWER.length);
    await screenshot(page, 'agent-steps'); // docs/images/agent-steps.png
    const order = await lastAnswer(page).evaluate((element) => {
      const tools = element.querySelector('.rv-tools');
      const answer = element.querySelector('.rv-answer');
      return tools !== null && answer !== null
        ? tools.compareDocumentPosition(answer) & Node.DOCUMENT_POSITION_FOLLOWING
        : 0;
    });
    expect(order).not.toBe(0);
    await lastAnswer(page).and(page.locator('[data-status="complete"]')).waitFor();
    expect(wordNumbers(await answerText(page))).toEqual(ANSWER.map((_, index) => index + 1));
    // Opening the row shows the input the model wrote and the result that came back.
    await done.locator('summary').click();
    expect(await done.locator('.rv-tool-body pre').first().innerText()).toContain(QUERY);
    expect(await done.locator('.rv-tool-body').innerText()).toMatch(/Result/);
    expect(chatRequests(server)).toBe(2);

    // After a reload, the stored conversation shows the same step and the same answer, without asking again.
    await page.reload();
    await lastAnswer(page).and(page.locator('[data-status="complete"]')).waitFor();
    const stored = toolRow(page);
    expect(await stored.getAttribute('data-state')).toBe('done');
    expect(await stored.locator('.rv-tool-summary').innerText()).toBe(`Searched documents for “${QUERY}”`);
    expect(await stored.locator('.rv-tool-count').innerText()).toBe(passages);
    expect(wordNumbers(await answerText(page))).toEqual(ANSWER.map((_, index) => index + 1));
    expect(chatRequests(server)).toBe(2);
  });
});
