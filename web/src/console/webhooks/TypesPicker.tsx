import { ALL_TYPES, EVENT_TYPES } from './events';

/** The event types chosen in a form: every type, or those checked. */
export interface TypeChoice {
  readonly all: boolean;
  readonly chosen: ReadonlySet<string>;
}

/** The choice an endpoint's types make (`*` is "every type"). */
export function choiceOf(types: readonly string[]): TypeChoice {
  const all = types.includes(ALL_TYPES);
  return { all, chosen: new Set(all ? [] : types) };
}

/** A choice the API takes: every type, or at least one. */
export function choiceValid(choice: TypeChoice): boolean {
  return choice.all || choice.chosen.size > 0;
}

interface Props {
  choice: TypeChoice;
  onChange: (choice: TypeChoice) => void;
  /** Unique on the page: the checkboxes' ids. */
  idPrefix: string;
}

/**
 * The event types as checkboxes: "every event" (`*`, those added later too) or the types
 * docs/server-api.md lists, one by one.
 */
export function TypesPicker({ choice, onChange, idPrefix }: Props) {
  function toggle(type: string, on: boolean) {
    const chosen = new Set(choice.chosen);
    if (on) chosen.add(type);
    else chosen.delete(type);
    onChange({ all: false, chosen });
  }
  return (
    <fieldset className="field console-types" data-testid="webhook-types">
      <legend>Events</legend>
      <label className="check">
        <input
          type="checkbox"
          checked={choice.all}
          onChange={(e) => onChange({ all: e.target.checked, chosen: choice.chosen })}
          data-testid="webhook-type-all"
        />
        <span>
          <strong>Every event</strong>{' '}
          <span className="muted small">(types added later too)</span>
        </span>
      </label>
      <div className="console-types-list">
        {EVENT_TYPES.map(({ type, when }) => {
          const id = `${idPrefix}-${type}`;
          return (
            <label key={type} className="check" htmlFor={id}>
              <input
                id={id}
                type="checkbox"
                disabled={choice.all}
                checked={choice.all || choice.chosen.has(type)}
                onChange={(e) => toggle(type, e.target.checked)}
                data-testid="webhook-type"
                data-type={type}
              />
              <span>
                <code>{type}</code> <span className="muted small">{when}</span>
              </span>
            </label>
          );
        })}
      </div>
      {!choiceValid(choice) && (
        <small className="field-error" data-testid="webhook-types-error">
          Choose at least one event.
        </small>
      )}
    </fieldset>
  );
}
