import { useCallback, useState } from 'react';
import { errorText } from '../../chat/adapt';
import type { ChatMessage, ChatPoll, ChatRoomSettings } from '../../chat/types';
import { ConnectionBadge } from '../../components/ConnectionBadge';
import { PinnedBanner } from '../../components/PinnedBanner';
import { PollsPanel } from '../../components/PollsPanel';
import { RoomModes } from '../../components/RoomModes';
import { seg, type ConsoleApi } from '../api';
import type { WireBan } from '../types';
import { routeHref } from '../useHashRoute';
import { useLoad } from '../useLoad';
import { Announce } from './Announce';
import { BansList } from './BansList';
import { MessageFeed, type MessageActions } from './MessageFeed';
import { useRoomFeed } from './useRoomFeed';

const TIMEOUT_SECONDS = 600;

/** The wire names of the room settings a change names. */
function settingsBody(changes: Partial<ChatRoomSettings>): Record<string, unknown> {
  const body: Record<string, unknown> = {};
  if (changes.slowMode !== undefined) body.slow_mode = changes.slowMode;
  if (changes.uniqueChat !== undefined) body.unique_chat = changes.uniqueChat;
  if (changes.maxMessageChars !== undefined) body.max_message_chars = changes.maxMessageChars;
  if (changes.mode !== undefined) body.mode = changes.mode;
  if (changes.hold !== undefined) body.hold = changes.hold;
  if (changes.delay !== undefined) body.delay = changes.delay;
  return body;
}

/**
 * One room, live: its messages with the operator's actions, its pin, modes, bans and polls.
 * The view comes from the room's own events (useRoomFeed); every action is a server API
 * call, made with the console session.
 */
export function RoomPage({ api, room }: { api: ConsoleApi; room: string }) {
  const feed = useRoomFeed(api, room);
  const path = `/rooms/${seg(room)}`;
  const bans = useLoad(() => api.get<{ bans: WireBan[] }>(`${path}/bans`));
  const [error, setError] = useState<string | null>(null);
  const { view } = feed;

  /** Run an action; a refusal is shown (and rethrown, so a form keeps its input). */
  const act = useCallback(async <T,>(action: () => Promise<T>): Promise<T> => {
    setError(null);
    try {
      return await action();
    } catch (e) {
      setError(errorText(e));
      throw e;
    }
  }, []);

  const banWith = (body: Record<string, unknown>) =>
    act(() => api.send('POST', `${path}/bans`, body)).finally(bans.reload);

  const actions: MessageActions = {
    remove: (m: ChatMessage) => act(() => api.send('DELETE', `${path}/messages/${seg(m.id)}`)),
    pin: (m: ChatMessage) => act(() => api.send('PUT', `${path}/pin`, { message_id: m.id })),
    timeout: (m: ChatMessage) => banWith({ user_id: m.user.id, duration: TIMEOUT_SECONDS }),
    ban: (m: ChatMessage) => banWith({ user_id: m.user.id }),
    purge: (m: ChatMessage) => act(() => api.send('POST', `${path}/purge`, { user_id: m.user.id })),
  };

  const connected = view.state === 'connected';
  return (
    <section className="console-page" data-testid="room-page" data-room={room}>
      <div className="console-page-head">
        <a href={routeHref({ page: 'rooms' })} className="link-button">
          ← Rooms
        </a>
        <h2 data-testid="room-title">{room}</h2>
        <ConnectionBadge state={view.state} />
        <span className="muted small" data-testid="room-online" data-online={view.online}>
          {view.online} online
        </span>
      </div>
      {feed.error && (
        <p className="field-error" role="alert">
          Could not join the room: {feed.error}
        </p>
      )}
      {error && (
        <p className="field-error" role="alert" data-testid="room-error">
          {error}
        </p>
      )}
      <div className="console-room">
        <div className="console-room-main">
          {view.pin && (
            <PinnedBanner
              pin={view.pin}
              canModerate
              onUnpin={() => act(() => api.send('DELETE', `${path}/pin`))}
            />
          )}
          <MessageFeed
            messages={view.messages}
            hasMore={view.hasMore}
            onLoadOlder={feed.loadOlder}
            self={feed.client?.user?.id ?? null}
            actions={actions}
          />
          <Announce onPost={(text) => act(() => api.send('POST', `${path}/messages`, { text }))} />
        </div>
        <aside className="console-room-side">
          <section className="panel console-side">
            <h3>Room modes</h3>
            <RoomModes
              settings={view.settings}
              disabled={!connected}
              onSetMode={(changes) =>
                act(() => api.send('PATCH', `${path}/settings`, settingsBody(changes)))
              }
            />
          </section>
          <BansList
            bans={bans.data?.bans ?? null}
            onLift={(userId) =>
              act(() => api.send('DELETE', `${path}/bans/${seg(userId)}`)).finally(bans.reload)
            }
          />
          <PollsPanel
            polls={view.polls}
            hasOlder={view.morePolls}
            onLoadOlder={feed.loadOlderPolls}
            canModerate
            disabled={!connected}
            onCreate={(question, options, publishAt) =>
              act(() =>
                api.send('POST', `${path}/polls`, {
                  question,
                  options,
                  ...(publishAt ? { publish_at: publishAt.getTime() } : {}),
                }),
              )
            }
            onVote={(poll: ChatPoll, option: number) =>
              act(async () => feed.client?.vote(poll.id, option))
            }
            onFinish={(poll: ChatPoll) =>
              act(() => api.send('POST', `${path}/polls/${seg(poll.id)}/finish`))
            }
          />
        </aside>
      </div>
    </section>
  );
}
