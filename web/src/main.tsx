import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { App } from './App';
import './styles/base.css';
import './styles/join.css';
import './styles/chat.css';
import './styles/reactions.css';
import './styles/polls.css';
import './styles/moderation.css';
import './styles/replies.css';
import './styles/review.css';
import './styles/responsive.css';

const root = document.getElementById('root');
if (!root) throw new Error('index.html has no #root');
createRoot(root).render(
  <StrictMode>
    <App />
  </StrictMode>,
);
