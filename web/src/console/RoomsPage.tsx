import { useState, type FormEvent } from 'react';
import type { ConsoleApi } from './api';
import type { RoomList } from './types';
import { useLoad } from './useLoad';
import { routeHref } from './useHashRoute';

const REFRESH_MS = 5000;
// The server's rule for room ids (docs/protocol.md §3), checked here only to help.
const ROOM_PATTERN = /^[A-Za-z0-9_\-:.]{1,64}$/;

/** The live rooms of the cluster with their numbers, the most crowded first. */
export function RoomsPage({ api }: { api: ConsoleApi }) {
  const rooms = useLoad(
    (background) => api.get<RoomList>('/rooms?limit=200', { background }),
    REFRESH_MS,
  );
  return (
    <section className="console-page" data-testid="rooms-page">
      <div className="console-page-head">
        <h2>Live rooms</h2>
        <span className="muted small" data-testid="rooms-total">
          {rooms.data ? `${rooms.data.total} live` : ''}
        </span>
        <button className="secondary small" data-testid="rooms-refresh" onClick={rooms.reload}>
          Refresh
        </button>
      </div>
      {rooms.error && <p className="field-error">{rooms.error}</p>}
      <table className="console-table">
        <thead>
          <tr>
            <th>Room</th>
            <th className="num">Online</th>
            <th className="num">Messages / min</th>
            <th className="num">Position</th>
          </tr>
        </thead>
        <tbody>
          {rooms.data?.rooms.map((room) => (
            <tr key={room.id} data-testid="room-row" data-room={room.id}>
              <td>
                <a href={routeHref({ page: 'room', room: room.id })}>{room.id}</a>
              </td>
              <td className="num" data-testid="room-online">
                {room.online}
              </td>
              <td className="num">{room.messages_last_minute}</td>
              <td className="num">{room.last_seq}</td>
            </tr>
          ))}
          {rooms.data?.rooms.length === 0 && (
            <tr>
              <td colSpan={4} className="muted">
                No room has anyone in it right now.
              </td>
            </tr>
          )}
        </tbody>
      </table>
      <OpenRoom />
    </section>
  );
}

/** Go to any room by its id, live or not. */
function OpenRoom() {
  const [room, setRoom] = useState('');
  const valid = ROOM_PATTERN.test(room);
  function submit(event: FormEvent) {
    event.preventDefault();
    if (valid) location.hash = routeHref({ page: 'room', room });
  }
  return (
    <form className="console-inline" onSubmit={submit}>
      <input
        placeholder="Room id"
        value={room}
        onChange={(e) => setRoom(e.target.value)}
        data-testid="open-room-input"
      />
      <button className="secondary" type="submit" disabled={!valid} data-testid="open-room">
        Open room
      </button>
    </form>
  );
}
