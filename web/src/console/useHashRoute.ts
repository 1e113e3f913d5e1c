import { useEffect, useState } from 'react';

/** Where the console is: `#/rooms`, `#/rooms/<room>`, `#/keys`, `#/webhooks`. */
export type Route =
  | { readonly page: 'rooms' }
  | { readonly page: 'room'; readonly room: string }
  | { readonly page: 'keys' }
  | { readonly page: 'webhooks' };

export function parseRoute(hash: string): Route {
  const path = hash.replace(/^#\/?/, '');
  const [page, arg] = path.split('/', 2);
  if (page === 'rooms' && arg) {
    try {
      return { page: 'room', room: decodeURIComponent(arg) };
    } catch {
      return { page: 'rooms' };
    }
  }
  if (page === 'keys') return { page: 'keys' };
  if (page === 'webhooks') return { page: 'webhooks' };
  return { page: 'rooms' };
}

export function routeHref(route: Route): string {
  if (route.page === 'room') return `#/rooms/${encodeURIComponent(route.room)}`;
  return `#/${route.page}`;
}

/** The route of the page's hash, followed as it changes. */
export function useHashRoute(): Route {
  const [route, setRoute] = useState(() => parseRoute(location.hash));
  useEffect(() => {
    const follow = () => setRoute(parseRoute(location.hash));
    window.addEventListener('hashchange', follow);
    return () => window.removeEventListener('hashchange', follow);
  }, []);
  return route;
}
