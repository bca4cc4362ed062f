// The connection to the monitor's /events stream. EventSource reconnects by itself after a network
// error (the server's `retry:` sets the pace); after an answer that is not a stream (a 503 when
// too many pages are open, a proxy's error page) it gives up, so this opens a new one, waiting a
// little longer each time.

const EVENTS = ['snapshot', 'transition', 'probe', 'calls', 'concurrency'];
const FIRST_RETRY_MS = 1_000;
const LONGEST_RETRY_MS = 15_000;

/**
 * Connects to `url` and keeps connected. `onEvent(name, data)` hears every event; `onConnection`
 * hears 'live', 'reconnecting' and the time the connection was lost.
 */
export function connect(url, { onEvent, onConnection }) {
  let retryMs = FIRST_RETRY_MS;
  let lostAt;

  const open = () => {
    const source = new EventSource(url);
    source.addEventListener('open', () => {
      retryMs = FIRST_RETRY_MS;
      lostAt = undefined;
      onConnection('live');
    });
    source.addEventListener('error', () => {
      lostAt ??= Date.now();
      onConnection('reconnecting', lostAt);
      if (source.readyState === EventSource.CLOSED) {
        setTimeout(open, retryMs);
        retryMs = Math.min(retryMs * 2, LONGEST_RETRY_MS);
      }
    });
    for (const name of EVENTS) {
      source.addEventListener(name, (message) => onEvent(name, JSON.parse(message.data)));
    }
  };
  open();
}
