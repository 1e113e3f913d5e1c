import { REACTION_EMOJI, type ReactionBurst } from '../chat/types';

interface Props {
  types: readonly string[];
  stats: Readonly<Record<string, number>>;
  bursts: readonly ReactionBurst[];
  disabled: boolean;
  onReact: (reaction: string) => void;
}

const compact = new Intl.NumberFormat(undefined, { notation: 'compact' });

export function ReactionBar({ types, stats, bursts, disabled, onReact }: Props) {
  return (
    <div className="reaction-bar" data-testid="reaction-bar">
      <div className="bursts" aria-hidden="true">
        {bursts.map((b) => (
          <span
            key={b.key}
            className="burst"
            style={{ left: `${(b.key * 37) % 90}%` }}
            title={b.username}
          >
            {REACTION_EMOJI[b.reaction] ?? b.reaction}
          </span>
        ))}
      </div>
      {types.map((type) => (
        <button
          key={type}
          type="button"
          className="reaction"
          onClick={() => onReact(type)}
          disabled={disabled}
          title={type}
          aria-label={`React ${type}`}
          data-testid={`reaction-${type}`}
        >
          <span className="emoji">{REACTION_EMOJI[type] ?? type}</span>
          <span
            className="count"
            data-testid={`reaction-count-${type}`}
            data-count={stats[type] ?? 0}
          >
            {compact.format(stats[type] ?? 0)}
          </span>
        </button>
      ))}
    </div>
  );
}
