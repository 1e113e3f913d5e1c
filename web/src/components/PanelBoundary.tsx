import { Component, type ErrorInfo, type ReactNode } from 'react';
import { errorText } from '../chat/adapt';

interface Props {
  /** What the panel shows, for the message: "messages", "reactions", "polls". */
  name: string;
  children: ReactNode;
}

interface State {
  error: unknown;
}

/**
 * Contains a panel that throws while rendering: the panel is replaced by a readable error
 * with a retry, and the rest of the page keeps working. (React catches render errors only
 * in a class component with `getDerivedStateFromError`.)
 */
export class PanelBoundary extends Component<Props, State> {
  state: State = { error: null };

  static getDerivedStateFromError(error: unknown): State {
    return { error: error ?? new Error('unknown error') };
  }

  componentDidCatch(error: unknown, info: ErrorInfo): void {
    console.error(`pchat demo: the ${this.props.name} panel failed`, error, info.componentStack);
  }

  render(): ReactNode {
    const { error } = this.state;
    if (error === null) return this.props.children;
    return (
      <div
        className="panel-error"
        role="alert"
        data-testid="panel-error"
        data-panel={this.props.name}
      >
        <p>
          The {this.props.name} could not be shown: <q>{errorText(error)}</q>
        </p>
        <button
          type="button"
          className="secondary small"
          onClick={() => this.setState({ error: null })}
          data-testid="panel-retry"
        >
          Try again
        </button>
      </div>
    );
  }
}
