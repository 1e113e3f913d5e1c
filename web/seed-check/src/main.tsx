import { createRoot } from 'react-dom/client';
import { App } from './App';

// No StrictMode: the tutorial's client is one module-level instance, connected once.
createRoot(document.getElementById('root')!).render(<App />);
