// The dashboard's entry point: keeps what /events said (the model) and has the view and the
// charts draw it. Everything comes from /events; a snapshot (on every connection, so also after
// the monitor restarted) replaces what the page knew. With several routes (a routes file) each
// route keeps its own status and recent events, a card per route shows its state, and the
// detail panels and the controls show and act on the route chosen by clicking its card. A route
// with a concurrency limit also has a panel of its limit and calls in flight.
import { drawLatency, drawLimit, drawRate, drawTimeline } from './charts.js';
import { setUpControl } from './control.js';
import { stateLabel } from './format.js';
import { connect } from './stream.js';
import { announce, renderCalls, renderConfig, renderConnection, renderCounters, renderDetails, renderFeed, renderRoutes, renderState } from './view.js';

/**
 * What the charts cover: the last 5 minutes (the rate: 2), or less while the monitor is younger,
 * in whole minutes, so the first minutes of a demo are not a sliver at the right edge.
 */
const LONGEST_MINUTES = 5;
const LONGEST_RATE_MINUTES = 2;
const KEEP_MS = 10 * 60_000;

function windowMinutes(now, longest) {
  const age = model.startedAt === undefined ? Infinity : now - model.startedAt;
  return Math.min(longest, Math.max(1, Math.ceil(age / 60_000)));
}

const model = {
  connection: 'connecting',
  lostAt: undefined,
  /** browser clock minus the monitor's, from the last snapshot: every time is shown on the browser's clock */
  offsetMs: 0,
  /** the last status the monitor sent (the snapshot's, or the one a transition carried): config, overall, routes */
  status: undefined,
  startedAt: undefined,
  /**
   * One entry per route: `status` (with one route the whole status, as the monitor sends it; with
   * several the route's entry and the configuration), `statusReceived` (performance.now() when it
   * came: the countdown runs from there), its transitions, probes and calls by second, and (with
   * a concurrency limit) its readings of the limit and the calls in flight, one per change.
   */
  routes: [],
  /** the route whose details the panels show */
  chosen: undefined,
  /** the page's own notes: connection lost, reconnected */
  notes: [],
};

const toLocal = (iso) => Date.parse(iso) + model.offsetMs;
const several = () => model.routes.length > 1;
const routeNamed = (name) => model.routes.find((route) => route.name === name) ?? model.routes[0];
const chosenRoute = () => routeNamed(model.chosen);

/** What each route shows of the status the monitor sent. */
function takeStatus(status) {
  model.status = status;
  const now = performance.now();
  for (const route of model.routes) {
    const entry = several() ? status.routes?.find((each) => each.name === route.name) : undefined;
    route.status = several() ? { ...entry, config: status.config } : status;
    route.statusReceived = now;
  }
}

function onSnapshot(snapshot) {
  const { recent = {}, serverTime, monitorStartedAt, routes = [], ...status } = snapshot;
  model.offsetMs = serverTime ? Date.now() - Date.parse(serverTime) : 0;
  model.startedAt = monitorStartedAt ? toLocal(monitorStartedAt) : undefined;
  // a monitor older than routes sends no `routes`: its one route is the top level
  const entries = routes.length > 0 ? routes : [{ name: 'default', recent }];
  model.routes = entries.map(({ name, prefix, upstream, recent: its = {} }) => {
    const route = {
      name,
      prefix,
      upstream,
      transitions: (its.transitions ?? []).map((entry) => ({ ...entry, at: toLocal(entry.at) })),
      probes: (its.probes ?? []).map((entry) => ({ ...entry, at: toLocal(entry.at) })),
      calls: new Map(),
      concurrency: (its.concurrency ?? []).map((entry) => ({ ...entry, at: toLocal(entry.at) })),
    };
    for (const entry of its.calls ?? []) addCalls(route, entry);
    return route;
  });
  if (!model.routes.some((route) => route.name === model.chosen)) model.chosen = model.routes[0].name;
  takeStatus({ ...status, ...(routes.length > 0 ? { routes: routes.map(({ recent: _recent, ...entry }) => entry) } : {}) });
  document.querySelector('main').classList.toggle('several', several());
  renderConfig(status.config ?? {}, several() ? chosenRoute() : undefined);
  control.configure(status.config ?? {});
}

function onTransition(data) {
  const { status, route: name, ...entry } = data;
  const route = routeNamed(name);
  route.transitions.push({ ...entry, at: toLocal(entry.at) });
  if (status) takeStatus(status);
  const which = several() ? `Route ${route.name}: circuit` : 'Circuit';
  announce(`${which} ${stateLabel(entry.to)}: ${entry.message ?? `changed from ${stateLabel(entry.from)} to ${stateLabel(entry.to)}`}`);
}

function onProbe(data) {
  const { counters, state: _state, route: name, ...entry } = data;
  const route = routeNamed(name);
  route.probes.push({ ...entry, at: toLocal(entry.at) });
  // the state comes with transitions; the counters move with every probe
  if (route.status && counters) route.status = { ...route.status, counters };
}

function addCalls(route, entry) {
  const at = Math.floor(toLocal(entry.at) / 1000) * 1000;
  const { at: _at, seconds: _seconds, route: _route, ...bySource } = entry;
  route.calls.set(at, bySource);
}

function onCalls(entry) {
  const route = routeNamed(entry.route);
  addCalls(route, entry);
  // the totals since start move with each period's calls
  const calls = route.status?.calls;
  if (!calls) return;
  const { at: _at, seconds: _seconds, route: _route, ...bySource } = entry;
  for (const [source, outcomes] of Object.entries(bySource)) {
    calls[source] ??= {};
    for (const [outcome, n] of Object.entries(outcomes)) calls[source][outcome] = (calls[source][outcome] ?? 0) + n;
  }
}

function onConcurrency(data) {
  const { route: name, mode, ...entry } = data;
  const route = routeNamed(name);
  route.concurrency.push({ ...entry, at: toLocal(entry.at) });
  if (route.status) route.status = { ...route.status, concurrency: { mode, limit: entry.limit, inFlight: entry.inFlight } };
}

function forget(now) {
  const oldest = now - KEEP_MS;
  for (const route of model.routes) {
    // keep the transition before the window: it says which state the timeline starts in
    while (route.transitions.length > 1 && route.transitions[1].at < oldest) route.transitions.shift();
    while (route.probes.length > 0 && route.probes[0].at < oldest) route.probes.shift();
    for (const at of route.calls.keys()) if (at < oldest) route.calls.delete(at);
    // the reading before the window says what held at its start
    while (route.concurrency.length > 1 && route.concurrency[1].at < oldest) route.concurrency.shift();
  }
  if (model.notes.length > 20) model.notes.splice(0, model.notes.length - 20);
}

/** What the panels draw: the chosen route, with what the page knows of the connection. */
const view = () => ({ ...chosenRoute(), connection: model.connection, offsetMs: model.offsetMs, startedAt: model.startedAt, notes: model.notes });

/** Clicking a route's card shows its details. */
function choose(name) {
  if (name === model.chosen) return;
  model.chosen = name;
  renderConfig(model.status?.config ?? {}, chosenRoute());
  render();
  drawCharts();
}

const handlers = { snapshot: onSnapshot, transition: onTransition, probe: onProbe, calls: onCalls, concurrency: onConcurrency };

/** Text parts at once (they are cheap and carry the state); charts at most a few times a second. */
let chartsDue = false;
function render() {
  const now = Date.now();
  renderConnection(model.connection, model.lostAt);
  if (!model.status) return;
  const shown = view();
  renderRoutes(model, now, choose);
  renderState(shown, now);
  renderCounters(shown.status);
  renderCalls(shown.status.calls ?? {});
  renderDetails(shown.status);
  renderFeed(shown);
  control.update();
  if (!chartsDue) {
    chartsDue = true;
    setTimeout(drawCharts, 250);
  }
}

function drawCharts() {
  chartsDue = false;
  if (!model.status) return;
  const now = Date.now();
  forget(now);
  const config = model.status.config ?? {};
  const shown = view();
  const minutes = windowMinutes(now, LONGEST_MINUTES);
  const rateMinutes = windowMinutes(now, LONGEST_RATE_MINUTES);
  for (const span of document.querySelectorAll('.window-minutes')) span.textContent = String(minutes);
  document.getElementById('rate-minutes').textContent = String(rateMinutes);
  drawTimeline(document.getElementById('timeline'), shown, now - minutes * 60_000, now);
  drawLatency(document.getElementById('latency'), shown.probes, now - minutes * 60_000, now, (config.REQUEST_TIMEOUT ?? 2) * 1000);
  drawRate(document.getElementById('rate'), shown.calls, rateMinutes * 60, now);
  // the limit's panel only for a route with the limit on
  const concurrency = shown.status.concurrency;
  const limited = Boolean(concurrency);
  document.getElementById('limit-card').hidden = !limited;
  document.querySelector('main').classList.toggle('limited', limited);
  if (limited) drawLimit(document.getElementById('limit'), shown.concurrency, concurrency, now - minutes * 60_000, now, shown.startedAt);
}

const control = setUpControl({
  currentState: () => chosenRoute()?.status?.state,
  // with one route the calls name none, as before
  currentRoute: () => (several() ? model.chosen : undefined),
  note: (text) => {
    model.notes.push({ at: Date.now(), text });
    render();
  },
});

connect('events', {
  onEvent: (name, data) => {
    handlers[name]?.(data);
    render();
  },
  onConnection: (connection, lostAt) => {
    const was = model.connection;
    model.connection = connection;
    model.lostAt = lostAt;
    if (connection === 'reconnecting' && was !== 'reconnecting') model.notes.push({ at: lostAt ?? Date.now(), text: 'connection to the monitor lost; reconnecting' });
    if (connection === 'live') model.notes.push({ at: Date.now(), text: was === 'reconnecting' ? 'reconnected to the monitor' : 'connected to the monitor' });
    render();
  },
});

// the countdown and the "since" durations move on their own
setInterval(() => {
  if (!model.status) return;
  renderRoutes(model, Date.now(), choose);
  renderState(view(), Date.now());
}, 200);
// the charts scroll with time even when nothing happens
setInterval(drawCharts, 1_000);
new ResizeObserver(() => drawCharts()).observe(document.querySelector('main'));
