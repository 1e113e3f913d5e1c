import { formatTime } from '../../components/format';
import type { WireBan } from '../types';

const WHEN = new Intl.DateTimeFormat(undefined, { dateStyle: 'short', timeStyle: 'short' });

function kind(ban: WireBan): string {
  if (ban.shadow) return 'shadow ban';
  return ban.until === null ? 'ban' : `until ${formatTime(WHEN, ban.until)}`;
}

interface Props {
  bans: readonly WireBan[] | null;
  onLift: (userId: string) => Promise<unknown>;
}

/** The bans, timeouts and shadow bans in force in the room, each with Lift. */
export function BansList({ bans, onLift }: Props) {
  return (
    <section className="panel console-side" data-testid="console-bans">
      <h3>Bans</h3>
      {bans?.length === 0 && <p className="muted small">Nobody is banned here.</p>}
      <ul className="console-list">
        {bans?.map((ban) => (
          <li key={ban.user_id} data-testid="ban-row" data-user-id={ban.user_id}>
            <span>
              <code>{ban.user_id}</code>{' '}
              <span className="muted small">{kind(ban)}</span>
            </span>
            <button
              className="link-button"
              onClick={() => void onLift(ban.user_id)}
              data-testid="ban-lift"
            >
              Lift
            </button>
          </li>
        ))}
      </ul>
    </section>
  );
}
