import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { ConsoleApp } from './ConsoleApp';
import '../styles/base.css';
import '../styles/join.css';
import '../styles/chat.css';
import '../styles/polls.css';
import '../styles/moderation.css';
import './console.css';

const root = document.getElementById('root');
if (!root) throw new Error('console.html has no #root');
createRoot(root).render(
  <StrictMode>
    <ConsoleApp />
  </StrictMode>,
);
