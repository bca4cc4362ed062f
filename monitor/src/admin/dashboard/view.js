// The page's words: the route cards (with several routes), the state card, counters, call
// totals, the feed of last events, the configuration, and the announcements screen readers hear.
// Charts are in charts.js.
import { count, duration, stateLabel, stateMeaning, timeOfDay, valueText, words } from './format.js';

const byId = (id) => document.getElementById(id);

/** An element with attributes and children (strings become text). */
export function el(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) element.setAttribute(name, value);
  element.append(...children);
  return element;
}

/** Sets text only when it changed, so nothing flickers and assistive tech is not disturbed. */
function setText(id, text) {
  const element = byId(id);
  if (element.textContent !== text) element.textContent = text;
}

export function renderConnection(connection, lostAt) {
  const element = byId('connection');
  element.dataset.connection = connection;
  const text = connection === 'live' ? 'live' : connection === 'reconnecting' ? `reconnecting… (lost at ${timeOfDay(lostAt ?? Date.now())})` : 'connecting…';
  setText('connection', text);
}

/** ms until the trial of a status received at `received` (performance.now()); undefined unless open. */
function trialInMs(status, received) {
  if (status.state !== 'open' || typeof status.trialInSeconds !== 'number') return undefined;
  return status.trialInSeconds * 1000 - (performance.now() - received);
}

const trialText = (remainingMs) => (remainingMs > 0 ? `trial in ${(remainingMs / 1000).toFixed(1)} s` : 'trial due now');

/**
 * With several routes, one card per route: its name and prefix, its state in words with its
 * symbol and colour, and the countdown to its trial; the pressed one is the route the panels show.
 */
export function renderRoutes(model, now, choose) {
  const section = byId('routes-card');
  const several = model.routes.length > 1;
  section.hidden = !several;
  if (!several) return;
  const list = byId('routes');
  const names = JSON.stringify(model.routes.map((route) => route.name));
  if (list.dataset.names !== names) {
    list.dataset.names = names;
    list.replaceChildren(
      ...model.routes.map((route) => {
        const button = el(
          'button',
          { type: 'button', class: 'route', 'data-route': route.name, 'aria-pressed': 'false' },
          el('span', { class: 'route-name' }, route.name),
          el('span', { class: 'route-prefix' }, route.prefix ?? ''),
          el('span', { class: 'route-state' }, el('span', { class: 'state-symbol', 'aria-hidden': 'true' }), el('span', { class: 'route-state-word' })),
          el('span', { class: 'route-detail' }),
        );
        button.addEventListener('click', () => choose(route.name));
        return el('li', {}, button);
      }),
    );
  }
  const buttons = list.querySelectorAll('button.route');
  model.routes.forEach((route, i) => {
    const button = buttons[i];
    const status = route.status ?? {};
    const state = model.connection === 'live' ? (status.state ?? 'unknown') : 'unknown';
    if (button.dataset.state !== state) button.dataset.state = state;
    const pressed = String(route.name === model.chosen);
    if (button.getAttribute('aria-pressed') !== pressed) button.setAttribute('aria-pressed', pressed);
    const word = model.connection === 'live' ? stateLabel(status.state) : `${stateLabel(status.state)} (last known)`;
    const remainingMs = trialInMs(status, route.statusReceived);
    const since = Date.parse(status.since) + model.offsetMs;
    const detail = remainingMs !== undefined ? trialText(remainingMs) : Number.isNaN(since) ? '' : `for ${duration(now - since)}`;
    const wordSpan = button.querySelector('.route-state-word');
    if (wordSpan.textContent !== word) wordSpan.textContent = word;
    const detailSpan = button.querySelector('.route-detail');
    if (detailSpan.textContent !== detail) detailSpan.textContent = detail;
  });
}

/** The state, since when, and the countdown to the trial while open. */
export function renderState(model, now) {
  const { status } = model;
  const card = byId('state-card');
  card.dataset.state = status.state;
  card.dataset.stale = String(model.connection !== 'live');
  setText('state', stateLabel(status.state));
  setText('state-meaning', model.connection === 'live' ? stateMeaning(status.state) : 'last known state: the monitor is not answering');
  const since = Date.parse(status.since) + model.offsetMs;
  setText('since', `since ${timeOfDay(since)}, for ${duration(now - since)}`);
  const datetime = new Date(since).toISOString();
  if (byId('since').getAttribute('datetime') !== datetime) byId('since').setAttribute('datetime', datetime);
  // a route's entry names its own upstream; with one route the status is the top level's
  setText('upstream', String(status.upstream ?? status.config?.HTTP_CLIENT ?? ''));
  const routeName = byId('route-name');
  routeName.hidden = status.name === undefined;
  setText('route-name', status.name === undefined ? '' : `route ${status.name}${status.prefix ? ` (${status.prefix})` : ''}`);

  const countdown = byId('countdown-block');
  const open = status.state === 'open' && typeof status.trialInSeconds === 'number';
  countdown.hidden = !open;
  if (!open) return;
  const remainingMs = trialInMs(status, model.statusReceived);
  // the window in force: what was left plus what had passed when the status was taken (a
  // route's entry has no secondsInState: its since says it)
  const inStateMs = status.secondsInState === undefined ? Math.max(0, now - (performance.now() - model.statusReceived) - since) : status.secondsInState * 1000;
  const windowMs = status.trialInSeconds * 1000 + inStateMs;
  setText('countdown', trialText(remainingMs));
  const bar = byId('countdown-bar');
  bar.max = 1000;
  bar.value = windowMs > 0 ? Math.round(1000 * Math.min(1, Math.max(0, 1 - remainingMs / windowMs))) : 1000;
  bar.setAttribute('aria-valuetext', `${Math.max(0, remainingMs / 1000).toFixed(0)} seconds until the trial`);
}

/** Tells screen readers; the same text twice is still said twice. */
export function announce(text) {
  const region = byId('announcer');
  region.textContent = '';
  setTimeout(() => (region.textContent = text), 50);
}

/** Each counter's limit: its variable in the configuration, its name in a route's own settings. */
const LIMITS = {
  consecutiveFailures: ['ERROR_THRESHOLD', 'errorThreshold'],
  consecutiveSuccesses: ['SUCCESS_THRESHOLD', 'successThreshold'],
  trialsInFlight: ['HALF_OPEN_MAX_CALLS', 'halfOpenMaxCalls'],
};
const COUNTER_LABELS = {
  consecutiveFailures: 'consecutive failures',
  consecutiveSuccesses: 'consecutive trial successes',
  trialsInFlight: 'trials in flight',
};

/** Every counter the status carries, against its limit when the configuration has one. */
export function renderCounters(status) {
  const list = byId('counters');
  // a route of a routes file may have settings of its own: the environment's limits are not its
  const own = status.name !== undefined;
  const items = Object.entries(status.counters ?? {}).map(([name, value]) => {
    const [variable, setting] = LIMITS[name] ?? [];
    const limit = own ? status.settings?.[setting] : status.config?.[variable];
    return [COUNTER_LABELS[name] ?? words(name), limit === undefined ? valueText(value) : `${valueText(value)} of ${limit}`];
  });
  replaceList(list, items);
}

const OUTCOME_ORDER = ['success', 'failure', 'rejected', 'overloaded', 'busy', 'fallback', 'aborted', 'late'];

/** The usual outcomes in their order, then any other a newer monitor sends. */
export const outcomesOf = (bySource) => {
  const seen = new Set(Object.values(bySource).flatMap((outcomes) => Object.keys(outcomes ?? {})));
  return [...OUTCOME_ORDER, ...[...seen].filter((outcome) => !OUTCOME_ORDER.includes(outcome))];
};

/** Calls since start: a row per outcome that has any, a column per source. */
export function renderCalls(calls) {
  const outcomes = outcomesOf(calls).filter((outcome) => Object.values(calls).some((byOutcome) => (byOutcome?.[outcome] ?? 0) > 0));
  const sources = Object.keys(calls);
  const signature = JSON.stringify([outcomes, calls]);
  const table = byId('calls');
  if (table.dataset.signature === signature) return;
  table.dataset.signature = signature;
  const head = el('tr', {}, el('th', { scope: 'col' }, 'outcome'), ...sources.map((source) => el('th', { scope: 'col' }, source)));
  const rows = outcomes.map((outcome) =>
    el('tr', {}, el('th', { scope: 'row' }, outcome), ...sources.map((source) => el('td', {}, count(calls[source]?.[outcome] ?? 0)))),
  );
  const none = outcomesOf(calls).filter((outcome) => !outcomes.includes(outcome));
  const caption = `Calls since the monitor started${none.length > 0 ? ` (none ${none.join(', ')})` : ''}`;
  table.replaceChildren(el('caption', {}, caption), el('thead', {}, head), el('tbody', {}, ...rows));
}

/** What the card, counters, table and limit panel do not show: the last outcome, and any field a newer monitor adds. */
const SHOWN = new Set(['state', 'since', 'secondsInState', 'trialInSeconds', 'counters', 'calls', 'config', 'lastProbe', 'loop', 'overall', 'routes', 'name', 'prefix', 'upstream', 'settings', 'concurrency']);

export function renderDetails(status) {
  const items = [];
  for (const [name, value] of Object.entries(status)) {
    if (SHOWN.has(name)) continue;
    if (name === 'lastOutcome') items.push(['last outcome', outcomeText(value)]);
    else items.push([words(name), valueText(value)]);
  }
  replaceList(byId('details'), items);
}

function outcomeText(outcome) {
  if (!outcome) return 'none yet';
  const result = outcome.ok ? `ok, HTTP ${outcome.status}` : `failed, ${outcome.reason}`;
  return `${outcome.source ?? 'call'} ${result} in ${outcome.latencyMs} ms`;
}

/** The configuration; with several routes the chosen route's name, prefix and upstream first. */
export function renderConfig(config, route) {
  const own = route === undefined ? [] : [['route', route.name], ['prefix', String(route.prefix ?? '')], ['upstream', String(route.upstream ?? '')]];
  replaceList(byId('config'), [...own, ...Object.entries(config).map(([name, value]) => [name, String(value)])]);
}

/** A description list from [term, description] pairs, rebuilt only when they changed. */
function replaceList(list, items) {
  const signature = JSON.stringify(items);
  if (list.dataset.signature === signature) return;
  list.dataset.signature = signature;
  list.replaceChildren(...items.map(([term, description]) => el('div', {}, el('dt', {}, term), el('dd', {}, description))));
}

const FEED_LENGTH = 25;

/** The last events, newest first: transitions, failed probes and the page's own notes. */
export function renderFeed(model) {
  const items = [
    ...model.transitions.map((t) => ({ at: t.at, kind: t.to, label: stateLabel(t.to), text: t.message ?? `Circuit changed from ${t.from} to ${t.to}` })),
    ...model.probes.filter((p) => !p.ok).map((p) => ({ at: p.at, kind: 'failure', label: 'probe failed', text: `${p.reason} in ${p.latencyMs} ms` })),
    ...model.notes.map((n) => ({ at: n.at, kind: 'note', label: 'page', text: n.text })),
  ]
    .sort((a, b) => b.at - a.at)
    .slice(0, FEED_LENGTH);
  const signature = JSON.stringify(items);
  const list = byId('feed');
  if (list.dataset.signature === signature) return;
  list.dataset.signature = signature;
  list.replaceChildren(
    ...items.map((item) =>
      el(
        'li',
        {},
        el('time', { datetime: new Date(item.at).toISOString() }, timeOfDay(item.at)),
        ' ',
        el('span', { class: 'badge', 'data-kind': item.kind }, item.label),
        ' ',
        item.text,
      ),
    ),
  );
  if (items.length === 0) list.replaceChildren(el('li', {}, 'nothing yet'));
}
