// The room bus of one process: notices go straight to this process's listeners, presence is a map.

import type { RoomBus, RoomListener, RoomNotice } from '../../core/room-bus.ts';

/** Listeners per room, shared by the memory bus and the Redis bus's local delivery. */
export class RoomListeners {
  private readonly byRoom = new Map<string, Set<RoomListener>>();

  /** Adds a listener; `first` runs when the room had none here before. Returns the removal. */
  add(roomId: string, listener: RoomListener, first?: () => void, last?: () => void): () => void {
    let listeners = this.byRoom.get(roomId);
    if (listeners === undefined) {
      listeners = new Set();
      this.byRoom.set(roomId, listeners);
      first?.();
    }
    // A wrapper per call, so one function added twice is two listeners and each removal takes its own.
    const entry: RoomListener = (notice) => listener(notice);
    listeners.add(entry);
    return () => {
      const current = this.byRoom.get(roomId);
      if (current === undefined || !current.delete(entry)) return;
      if (current.size === 0) {
        this.byRoom.delete(roomId);
        last?.();
      }
    };
  }

  /** Calls every listener of the notice's room; one that throws does not keep the notice from the others. */
  deliver(notice: RoomNotice): void {
    const listeners = this.byRoom.get(notice.roomId);
    if (listeners === undefined) return;
    for (const listener of [...listeners]) {
      try {
        listener(notice);
      } catch {
        // A listener's failure is its own (it logs); the others still hear the notice.
      }
    }
  }

  rooms(): string[] {
    return [...this.byRoom.keys()];
  }

  clear(): void {
    this.byRoom.clear();
  }
}

export class MemoryRoomBus implements RoomBus {
  private readonly listeners = new RoomListeners();
  /** Room id -> connection id -> member id. */
  private readonly presence = new Map<string, Map<string, string>>();

  publish(notice: RoomNotice): Promise<void> {
    this.listeners.deliver(notice);
    return Promise.resolve();
  }

  listen(roomId: string, listener: RoomListener): () => void {
    return this.listeners.add(roomId, listener);
  }

  async enter(roomId: string, memberId: string, connectionId: string): Promise<void> {
    let connections = this.presence.get(roomId);
    if (connections === undefined) {
      connections = new Map();
      this.presence.set(roomId, connections);
    }
    connections.set(connectionId, memberId);
    await this.publish({ type: 'presence', roomId });
  }

  async exit(roomId: string, _memberId: string, connectionId: string): Promise<void> {
    const connections = this.presence.get(roomId);
    if (connections === undefined || !connections.delete(connectionId)) return;
    if (connections.size === 0) this.presence.delete(roomId);
    await this.publish({ type: 'presence', roomId });
  }

  present(roomId: string): Promise<Set<string>> {
    return Promise.resolve(new Set(this.presence.get(roomId)?.values() ?? []));
  }

  close(): Promise<void> {
    this.listeners.clear();
    this.presence.clear();
    return Promise.resolve();
  }
}
