/**
 * A room watched live: the console joins it through the SDK as `console:<operator>`, an
 * admin, with the short-lived token of `POST /public-chat/admin/console/chat-token` (asked
 * again by the SDK before it expires). What the SDK holds — messages with the staff's marks,
 * online count, settings, pin, polls — is the view; the operator's actions go through the
 * server API (RoomPage), and come back here as the room's own events.
 */

import { useCallback, useEffect, useState } from 'react';
import { Events, PChatSDK } from 'pchatsdk';
import { errorText, toMessage, toPin, toPoll, toRoomSettings, toState } from '../../chat/adapt';
import {
  OPEN_ROOM,
  type ChatMessage,
  type ChatPin,
  type ChatPoll,
  type ChatRoomSettings,
  type ConnectionState,
} from '../../chat/types';
import type { ConsoleApi } from '../api';

export interface RoomView {
  readonly state: ConnectionState;
  readonly messages: readonly ChatMessage[];
  readonly hasMore: boolean;
  readonly online: number;
  readonly settings: ChatRoomSettings;
  readonly pin: ChatPin | null;
  readonly polls: readonly ChatPoll[];
  readonly morePolls: boolean;
}

export interface RoomFeed {
  readonly view: RoomView;
  /** Why the room could not be joined, if it could not. */
  readonly error: string | null;
  readonly client: PChatSDK | null;
  loadOlder(): Promise<void>;
  loadOlderPolls(): Promise<void>;
}

const EMPTY: RoomView = {
  state: 'connecting',
  messages: [],
  hasMore: false,
  online: 0,
  settings: OPEN_ROOM,
  pin: null,
  polls: [],
  morePolls: false,
};

function viewOf(sdk: PChatSDK): RoomView {
  return {
    state: toState(sdk.state),
    messages: sdk.messages.map(toMessage),
    hasMore: sdk.hasMoreHistory,
    online: sdk.online,
    settings: toRoomSettings(sdk.roomSettings),
    pin: sdk.pin ? toPin(sdk.pin) : null,
    polls: sdk.polls.map(toPoll),
    morePolls: sdk.hasMorePolls,
  };
}

const REFRESHING = [
  Events.CONNECT,
  Events.DISCONNECT,
  Events.STATE_CHANGE,
  Events.MESSAGE,
  Events.MESSAGE_DELETE,
  Events.HISTORY_LOAD,
  Events.PURGE,
  Events.MESSAGE_HIDDEN,
  Events.MESSAGE_RESTORED,
  Events.ONLINE,
  Events.ROOM_SETTINGS,
  Events.PIN,
  Events.POLL,
] as const;

export function useRoomFeed(api: ConsoleApi, room: string): RoomFeed {
  const [client, setClient] = useState<PChatSDK | null>(null);
  const [view, setView] = useState<RoomView>(EMPTY);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    const sdk = new PChatSDK({
      tokenRefresher: async () => (await api.chatToken(true)).token,
    });
    let active = true;
    const refresh = () => {
      if (active) setView(viewOf(sdk));
    };
    sdk.on([...REFRESHING], refresh);
    setClient(sdk);
    void (async () => {
      try {
        const { token, user } = await api.chatToken();
        if (!active) return;
        await sdk.connect(room, user.username, token, { role: 'admin' });
        refresh();
        await sdk.loadHistory();
        refresh();
      } catch (e) {
        if (active) setError(errorText(e));
      }
    })();
    return () => {
      active = false;
      sdk.removeAllListeners();
      void sdk.disconnect();
    };
  }, [api, room]);

  const loadOlder = useCallback(async () => {
    if (client?.hasMoreHistory) await client.loadHistory();
  }, [client]);

  const loadOlderPolls = useCallback(async () => {
    if (!client?.hasMorePolls) return;
    const oldest = [...client.polls].sort(
      (a, b) => a.createdAt - b.createdAt || (a.id < b.id ? -1 : 1),
    )[0];
    await client.getPolls(oldest ? { before: oldest.id } : {});
  }, [client]);

  return { view, error, client, loadOlder, loadOlderPolls };
}
