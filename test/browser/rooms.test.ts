// Rooms in the web app, in real Chromium against a real server and the fake upstream: Alice creates a room and invites
// Bob by user id, Bob opens the share link, Bob asks, and Alice's tab shows Bob's question and the answer growing as
// it streams; both tabs end with the same text. Someone who is not a member opening the link sees "Room not found".

import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromiumAvailable, launchBrowser, screenshot, type Browser } from '../helpers/browser.ts';
import { signTestJwt } from '../helpers/jwt.ts';
import { startTestServer, type TestServer } from '../helpers/test-server.ts';

const SECRET = 'rivulet-rooms-browser-secret-of-more-than-32-chars';
const range = (count: number): number[] => Array.from({ length: count }, (_, index) => index + 1);
/** An answer of numbered words (w1 w2 ...), so a missing or repeated piece shows in the page's text. */
const numberedTokens = (count: number): string[] => range(count).map((n) => `w${n} `);
const wordNumbers = (text: string): number[] =>
  [...text.matchAll(/w(\d+)/g)].map((match) => Number(match[1]));

describe.skipIf(!chromiumAvailable)('rooms in the web app', () => {
  let server: TestServer;
  // One browser (own profile, own localStorage) per user.
  const browsers: Browser[] = [];

  async function signedIn(user: string): Promise<Page> {
    const browser = await launchBrowser();
    browsers.push(browser);
    const token = await signTestJwt(SECRET, user);
    await browser.context.addInitScript((value: string) => {
      localStorage.setItem('rivulet:token', value);
    }, token);
    return browser.newPage();
  }

  beforeAll(async () => {
    server = await startTestServer({
      AUTH_MODE: 'required',
      AUTH_JWT_SECRET: SECRET,
      ANSWER_CACHE: 'false',
    });
  });
  afterAll(async () => {
    for (const browser of browsers) await browser.close();
    await server?.close();
  });

  it("shows a member's question and its answer streaming in another member's tab", async () => {
    const alice = await signedIn('alice');
    await alice.goto(`${server.url}/#/rooms`);
    await alice.getByLabel('Room name').fill('Support huddle');
    await alice.getByRole('button', { name: 'Create room' }).click();
    await alice.getByRole('heading', { name: 'Support huddle' }).waitFor();
    const link = await alice.getByLabel('Share link').inputValue();
    expect(link).toMatch(/#\/rooms\/room_[\w-]+$/);

    await alice.getByLabel('Invite by user id').fill('bob');
    await alice.getByRole('button', { name: 'Invite' }).click();
    await alice.getByText('Invited bob.').waitFor();
    const members = alice.getByRole('list', { name: 'Members' });
    await members.getByText('bob').waitFor();

    const bob = await signedIn('bob');
    await bob.goto(link);
    await bob.getByRole('heading', { name: 'Support huddle' }).waitFor();
    // Presence: Alice's member list shows Bob online once his tab is in the room.
    await members.locator('li[data-online="true"]', { hasText: 'bob' }).waitFor();

    // Every text change of the first answer in Alice's tab, as she sees it.
    await alice.evaluate(() => {
      const seen: string[] = [];
      (window as unknown as { seen: string[] }).seen = seen;
      new MutationObserver(() => {
        const answer = document.querySelector('.rooms-entry .rv-answer');
        const text = answer?.textContent ?? '';
        if (text !== seen.at(-1)) seen.push(text);
      }).observe(document.body, { subtree: true, childList: true, characterData: true });
    });

    server.upstream.setScenario({ tokens: numberedTokens(40), interTokenMs: 30 });
    await bob.getByLabel('Your question').fill('How do refunds work?');
    await bob.keyboard.press('Enter');

    const entry = alice.locator('.rooms-entry').first();
    await entry.getByText('bob asked').waitFor();
    expect(await entry.locator('.rv-bubble').innerText()).toBe('How do refunds work?');
    await entry.locator('[data-status="streaming"]').waitFor();
    await screenshot(alice, 'rooms-alice-streaming');
    await entry.locator('[data-status="complete"]').waitFor();
    await bob.locator('.rooms-entry [data-status="complete"]').waitFor();

    const aliceText = await entry.locator('.rv-answer').innerText();
    const bobText = await bob.locator('.rooms-entry .rv-answer').first().innerText();
    expect(wordNumbers(aliceText)).toEqual(range(40));
    expect(bobText).toBe(aliceText);
    expect(await bob.locator('.rooms-asker').first().innerText()).toBe('You asked');

    // Alice saw the text grow: several partial answers, each extending the one before, before the whole of it.
    const seen = await alice.evaluate(() => (window as unknown as { seen: string[] }).seen);
    const words = seen.map((text) => wordNumbers(text).length).filter((count) => count > 0);
    const partial = words.filter((count) => count < 40);
    expect(partial.length).toBeGreaterThanOrEqual(3);
    for (let index = 1; index < words.length; index++) {
      expect(words[index]).toBeGreaterThanOrEqual(words[index - 1] ?? 0);
    }
    expect(words.at(-1)).toBe(40);
  });

  it('tells someone who is not a member that the room is not found', async () => {
    const owner = await signTestJwt(SECRET, 'dora');
    const created = await fetch(`${server.url}/api/rooms`, {
      method: 'POST',
      headers: { authorization: `Bearer ${owner}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'Private' }),
    });
    expect(created.status).toBe(201);
    const { room } = (await created.json()) as { room: { id: string } };

    const carol = await signedIn('carol');
    await carol.goto(`${server.url}/#/rooms/${room.id}`);
    await carol.getByRole('heading', { name: 'Room not found' }).waitFor();
    expect(await carol.locator('.rooms-gone .rv-code-tag').innerText()).toBe('ROOM_NOT_FOUND');
    expect(await carol.getByText('Private').count()).toBe(0);
    expect(await carol.getByLabel('Your question').count()).toBe(0);
  });
});
