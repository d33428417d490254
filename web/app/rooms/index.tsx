// The rooms view (#/rooms, #/rooms/<roomId>): the caller's rooms and a form to create one; in a room, its share link,
// the member list with who is online, an invite form for the owner, and the shared conversation: each question
// labelled with who asked it and every answer streaming live, whoever asked.

import type { VNode } from 'preact';
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import type { RivuletClient } from '../../client/index.ts';
import {
  createRoom,
  inviteMember,
  listRooms,
  RoomConnection,
  type Room,
  type RoomSnapshot,
} from '../../client/rooms.ts';
import { AnswerView, Composer } from '../../ui/chat.tsx';
import './rooms.css';

/** The room's address in this app: opening it signed in as a member shows the room. */
export function roomLink(roomId: string): string {
  return `${location.origin}${location.pathname}#/rooms/${roomId}`;
}

export function RoomsView({ client, roomId }: { client: RivuletClient; roomId: string | null }): VNode {
  // Rooms are for signed-in users: `/api/me` says who this browser is (`user:<sub>` or `key:<id>`).
  const [me, setMe] = useState<string | null | undefined>(undefined);
  useEffect(() => {
    client
      .request('/api/me')
      .then((response) => response.json() as Promise<{ id: string | null; kind: string }>)
      .then(
        (body) => setMe(body.kind === 'anonymous' || body.kind === 'local' ? null : body.id),
        () => setMe(null),
      );
  }, [client]);
  if (me === undefined) return <p class="rv-note">Loading…</p>;
  if (me === null) {
    return (
      <p class="rv-error" role="alert">
        Rooms are for signed-in users: sign in with a JWT or an API key.{' '}
        <span class="rv-code-tag">ROOMS_NEED_SIGN_IN</span>
      </p>
    );
  }
  return roomId === null ? (
    <RoomList client={client} />
  ) : (
    <RoomPanel key={roomId} client={client} roomId={roomId} me={me} />
  );
}

function RoomList({ client }: { client: RivuletClient }): VNode {
  const [rooms, setRooms] = useState<Room[]>([]);
  const [name, setName] = useState('');
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    listRooms(client).then(setRooms, (failure: Error) => setError(failure.message));
  }, [client]);
  const create = async (): Promise<void> => {
    try {
      const { room } = await createRoom(client, name);
      location.hash = `#/rooms/${room.id}`;
    } catch (failure) {
      setError((failure as Error).message);
    }
  };
  return (
    <section class="rooms" aria-label="Rooms">
      <h2>Rooms</h2>
      <p class="rv-note">
        A room is a conversation several signed-in people share: everyone sees every answer live.
      </p>
      <form
        class="rooms-create"
        onSubmit={(event) => {
          event.preventDefault();
          if (name.trim() !== '') void create();
        }}
      >
        <label>
          Room name{' '}
          <input value={name} onInput={(event) => setName((event.target as HTMLInputElement).value)} />
        </label>
        <button type="submit" class="rv-button" disabled={name.trim() === ''}>
          Create room
        </button>
      </form>
      {error !== null ? (
        <p class="rv-error" role="alert">
          {error}
        </p>
      ) : null}
      <ul class="rooms-list">
        {rooms.map((room) => (
          <li key={room.id}>
            <a href={`#/rooms/${room.id}`}>{room.name}</a>
          </li>
        ))}
      </ul>
    </section>
  );
}

function useRoom(client: RivuletClient, roomId: string): { room: RoomSnapshot; connection: RoomConnection } {
  const connection = useRef<RoomConnection | null>(null);
  connection.current ??= new RoomConnection(client, roomId);
  const [room, setRoom] = useState<RoomSnapshot>(connection.current.snapshot);
  useEffect(() => {
    const current = connection.current;
    if (current === null) return;
    const unsubscribe = current.subscribe(setRoom);
    current.open();
    return () => {
      unsubscribe();
      current.close();
    };
  }, []);
  return { room, connection: connection.current };
}

function RoomPanel({ client, roomId, me }: { client: RivuletClient; roomId: string; me: string }): VNode {
  const { room, connection } = useRoom(client, roomId);
  if (room.state === 'connecting') return <p class="rv-note">Joining the room…</p>;
  if (room.state === 'gone' || room.room === null) {
    return (
      <section class="rooms rooms-gone" aria-label="Room">
        <h2>Room not found</h2>
        <p class="rv-error" role="alert">
          {room.error?.code === 'ROOM_NOT_FOUND' || room.error === null
            ? 'This room does not exist, or you are not one of its members. Ask its owner to invite you.'
            : room.error.message}{' '}
          {room.error !== null ? <span class="rv-code-tag">{room.error.code}</span> : null}
        </p>
        <a href="#/rooms">Your rooms</a>
      </section>
    );
  }
  const owner = room.room.ownerId === me;
  // My own answer still running: the composer offers to stop it instead of asking again.
  const mine = room.entries.find(
    (entry) =>
      entry.question.memberId === me &&
      (entry.answer.status === 'pending' || entry.answer.status === 'streaming'),
  );
  const composer = {
    busy: mine !== undefined,
    send: (text: string): Promise<void> => Promise.resolve(connection.ask(text)),
    stop: (): Promise<void> =>
      Promise.resolve(mine === undefined ? undefined : connection.stop(mine.question.runId)),
  };
  return (
    <div class="rooms-room">
      <aside class="rooms-side" aria-label="Room details">
        <h2 class="rooms-name">{room.room.name}</h2>
        <ShareLink roomId={roomId} />
        <h3>Members</h3>
        <ul class="rooms-members" aria-label="Members">
          {room.members.map((member) => (
            <li key={member.memberId} data-online={member.online}>
              <span
                class={`rooms-presence ${member.online ? 'online' : ''}`}
                aria-label={member.online ? 'online' : 'offline'}
              />
              {memberName(member.memberId)}
              {member.memberId === me ? ' (you)' : ''}
              {member.role === 'owner' ? <span class="rooms-role"> owner</span> : null}
            </li>
          ))}
        </ul>
        {owner ? <InviteForm client={client} roomId={roomId} /> : null}
      </aside>
      <main class="rv-chat rooms-chat">
        <div class="rv-messages" role="log" aria-label="Room conversation">
          {room.entries.length === 0 ? (
            <p class="rv-greeting">No question yet: ask one, everyone in the room sees the answer.</p>
          ) : null}
          {room.entries.map(({ question, answer }) => (
            <div class="rooms-entry" key={question.runId} data-run-id={question.runId}>
              <div class="rv-msg rv-user">
                <div class="rooms-asker">
                  {question.memberId === me ? 'You' : memberName(question.memberId)} asked
                </div>
                <div class="rv-bubble">{question.text}</div>
              </div>
              <AnswerView
                message={answer}
                canRegenerate={false}
                showStats={false}
                diagnose={undefined}
                onRegenerate={() => undefined}
              />
            </div>
          ))}
          {room.error !== null ? (
            <p class="rv-error" role="alert">
              {room.error.message} <span class="rv-code-tag">{room.error.code}</span>
            </p>
          ) : null}
        </div>
        <Composer chat={composer} placeholder="Ask the room… (Enter to send, Shift+Enter for a new line)" />
      </main>
    </div>
  );
}

/** `user:alice` shows as `alice`; API keys keep their prefix. */
function memberName(memberId: string): string {
  return memberId.startsWith('user:') ? memberId.slice('user:'.length) : memberId;
}

function ShareLink({ roomId }: { roomId: string }): VNode {
  const [copied, setCopied] = useState(false);
  const link = roomLink(roomId);
  return (
    <div class="rooms-share">
      <label>
        Share link{' '}
        <input readOnly value={link} onFocus={(event) => (event.target as HTMLInputElement).select()} />
      </label>
      <button
        type="button"
        class="rv-link-button"
        onClick={() =>
          void navigator.clipboard?.writeText(link).then(
            () => setCopied(true),
            () => undefined,
          )
        }
      >
        {copied ? 'Copied' : 'Copy link'}
      </button>
      <p class="rv-note">Only members can open it: invite people by their user id.</p>
    </div>
  );
}

function InviteForm({ client, roomId }: { client: RivuletClient; roomId: string }): VNode {
  const [draft, setDraft] = useState('');
  const [status, setStatus] = useState<{ ok: boolean; text: string } | null>(null);
  const invite = useCallback(async () => {
    const value = draft.trim();
    // A bare user id is a signed-in user's `sub`; `user:` and `key:` ids are taken as they are.
    const memberId = /^(user|key):/.test(value) ? value : `user:${value}`;
    try {
      await inviteMember(client, roomId, memberId);
      setStatus({ ok: true, text: `Invited ${memberName(memberId)}.` });
      setDraft('');
    } catch (failure) {
      const error = failure as Error & { code?: string };
      setStatus({ ok: false, text: `${error.message}${error.code ? ` (${error.code})` : ''}` });
    }
  }, [client, roomId, draft]);
  return (
    <form
      class="rooms-invite"
      onSubmit={(event) => {
        event.preventDefault();
        if (draft.trim() !== '') void invite();
      }}
    >
      <label>
        Invite by user id{' '}
        <input value={draft} onInput={(event) => setDraft((event.target as HTMLInputElement).value)} />
      </label>
      <button type="submit" class="rv-button" disabled={draft.trim() === ''}>
        Invite
      </button>
      {status !== null ? (
        <p class={status.ok ? 'rv-note' : 'rv-error'} role="status">
          {status.text}
        </p>
      ) : null}
    </form>
  );
}
