// Isolate and reset: POST /breaker/isolate and /breaker/reset with the admin token. The token is
// asked for once and kept in this page's memory only, never in sessionStorage or localStorage:
// stored, any script that ever runs on this origin could read it later; a reload asks again. A 401
// forgets it and asks again. What the breaker did shows through /events, like any other transition.
// With several routes the buttons act on the chosen route (`?route=NAME`) and say which.

const byId = (id) => document.getElementById(id);

export function setUpControl({ currentState, currentRoute, note }) {
  const form = byId('token-form');
  const input = byId('token');
  const buttons = byId('control-buttons');
  const result = byId('control-result');
  let enabled = false;
  let kept = null;

  const token = () => kept;
  const show = () => {
    byId('control-off').hidden = enabled;
    form.hidden = !enabled || token() !== null;
    buttons.hidden = !enabled || token() === null;
  };
  const say = (text) => {
    result.textContent = text;
  };

  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const value = input.value.trim();
    if (value.length < 16) {
      say('An admin token has at least 16 characters.');
      input.focus();
      return;
    }
    kept = value;
    input.value = '';
    say('Token kept in this page until you reload it. Isolate and reset are ready.');
    show();
    byId('isolate').focus();
  });

  byId('forget').addEventListener('click', () => {
    kept = null;
    say('Token forgotten.');
    show();
    input.focus();
  });

  const act = async (action) => {
    const route = currentRoute();
    const what = route === undefined ? action : `${action} ${route}`;
    say(`${what}…`);
    let response;
    try {
      response = await fetch(`breaker/${action}${route === undefined ? '' : `?route=${encodeURIComponent(route)}`}`, { method: 'POST', headers: { Authorization: `Bearer ${token()}` }, cache: 'no-store' });
    } catch {
      say(`${what} failed: the monitor did not answer.`);
      return;
    }
    const body = await response.json().catch(() => ({}));
    if (response.status === 200) {
      const text = body.changed ? `${what}: circuit ${body.from.replace('_', ' ')} → ${body.state.replace('_', ' ')}` : `${what}: the circuit was already ${body.state}`;
      say(`${text}.`);
      note(`you sent ${action}; ${text}`);
    } else if (response.status === 401) {
      kept = null;
      say('The monitor refused the token. Enter it again.');
      show();
      input.focus();
    } else if (response.status === 429) {
      // the token was not even compared: keep it for when the wait is over
      say(`The monitor refused: too many failed attempts from this address. Try again in ${response.headers.get('Retry-After') ?? 'a few'} s.`);
    } else if (response.status === 403 && /^control is off/.test(body.error ?? '')) {
      enabled = false;
      say('Control is off on this monitor (no ADMIN_TOKEN).');
      show();
    } else {
      say(`${what} failed: HTTP ${response.status} ${body.error ?? ''}`);
    }
  };
  byId('isolate').addEventListener('click', () => act('isolate'));
  byId('reset').addEventListener('click', () => act('reset'));

  return {
    /** The monitor says in its configuration whether control is on. */
    configure(config) {
      enabled = config.ADMIN_TOKEN === 'set';
      show();
    },
    /** Buttons that would change nothing are disabled. */
    update() {
      const state = currentState();
      byId('isolate').disabled = state === 'isolated';
      byId('reset').disabled = state === 'closed';
      const route = currentRoute();
      for (const [id, label] of [['isolate', 'Isolate'], ['reset', 'Reset']]) {
        const text = route === undefined ? label : `${label} ${route}`;
        if (byId(id).textContent !== text) byId(id).textContent = text;
      }
    },
  };
}
