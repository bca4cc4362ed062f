// Words and numbers for people: the states, times, durations and field names the page shows.

/** What each state means for calls; a state the page does not know yet still shows its name. */
export const STATES = {
  closed: { label: 'closed', meaning: 'calls pass through to the upstream' },
  open: { label: 'open', meaning: 'calls are rejected at once; a trial follows when the window ends' },
  half_open: { label: 'half open', meaning: 'trial calls decide: successes close it, a failure opens it again' },
  isolated: { label: 'isolated', meaning: 'held open by hand: every call rejected until reset' },
};

export const stateLabel = (state) => STATES[state]?.label ?? String(state).replaceAll('_', ' ');
export const stateMeaning = (state) => STATES[state]?.meaning ?? '';

const clock = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false });

/** 14:03:07 (local time) */
export const timeOfDay = (ms) => clock.format(new Date(ms));

/** 4.2 s, 3 min 05 s, 2 h 07 min */
export function duration(ms) {
  const seconds = Math.max(0, ms) / 1000;
  if (seconds < 60) return `${seconds < 10 ? seconds.toFixed(1) : Math.floor(seconds)} s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes} min ${String(Math.floor(seconds % 60)).padStart(2, '0')} s`;
  return `${Math.floor(minutes / 60)} h ${String(minutes % 60).padStart(2, '0')} min`;
}

/** consecutiveFailures -> consecutive failures; HTTP_CLIENT stays as it is */
export const words = (name) => (/^[A-Z0-9_]+$/.test(name) ? name : name.replace(/([a-z0-9])([A-Z])/g, '$1 $2').replaceAll('_', ' ').toLowerCase());

const number = new Intl.NumberFormat(undefined, { maximumFractionDigits: 1 });
export const count = (value) => number.format(value);

/** A field's value as text: numbers grouped, objects as their fields. */
export function valueText(value) {
  if (value === null || value === undefined) return '—';
  if (typeof value === 'number') return count(value);
  if (typeof value === 'object') {
    return Object.entries(value)
      .map(([key, inner]) => `${words(key)}: ${valueText(inner)}`)
      .join(', ');
  }
  return String(value);
}
