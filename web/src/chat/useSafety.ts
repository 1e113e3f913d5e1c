/**
 * Reports and personal mutes for the message list (docs/moderation.md): anyone reports
 * someone else's message to the moderators (once: the action then shows "Reported") and
 * mutes its author for themselves. Each success is told by a short notice.
 */

import { useCallback, useMemo, useState } from 'react';
import type { MessageSafety } from '../components/MessageMenu';
import type { ChatMessage, ChatUser } from './types';
import type { ChatController } from './useChat';

export function useSafety(chat: ChatController): MessageSafety {
  const { report: reportRaw, mute: muteRaw, notify } = chat;
  const [reported, setReported] = useState<ReadonlySet<string>>(() => new Set());

  const report = useCallback(
    async (message: ChatMessage, reason: string) => {
      await reportRaw(message, reason);
      setReported((set) => new Set(set).add(message.id));
      notify('Reported: the moderators will look at it.', 'info');
    },
    [reportRaw, notify],
  );

  const mute = useCallback(
    async (user: ChatUser) => {
      await muteRaw(user);
      notify(`You muted ${user.username}: you no longer see their messages.`, 'info');
    },
    [muteRaw, notify],
  );

  return useMemo(() => ({ report, mute, reported }), [report, mute, reported]);
}
