// The dashboard's entry point: keeps what /events said (the model) and has the view and the
// charts draw it. Everything comes from /events; a snapshot (on every connection, so also after
// the monitor restarted) replaces what the page knew.
import { drawLatency, drawRate, drawTimeline } from './charts.js';
import { setUpControl } from './control.js';
import { stateLabel } from './format.js';
import { connect } from './stream.js';
import { announce, renderCalls, renderConfig, renderConnection, renderCounters, renderDetails, renderFeed, renderState } from './view.js';

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
  /** the last status the monitor sent (the snapshot's, or the one a transition carried) */
  status: undefined,
  /** performance.now() when `status` arrived: the countdown runs from there */
  statusReceived: 0,
  startedAt: undefined,
  transitions: [],
  probes: [],
  /** calls by second (ms of the second's start) */
  calls: new Map(),
  /** the page's own notes: connection lost, reconnected */
  notes: [],
};

const toLocal = (iso) => Date.parse(iso) + model.offsetMs;

function onSnapshot(snapshot) {
  const { recent = {}, serverTime, monitorStartedAt, ...status } = snapshot;
  model.offsetMs = serverTime ? Date.now() - Date.parse(serverTime) : 0;
  model.status = status;
  model.statusReceived = performance.now();
  model.startedAt = monitorStartedAt ? toLocal(monitorStartedAt) : undefined;
  model.transitions = (recent.transitions ?? []).map((entry) => ({ ...entry, at: toLocal(entry.at) }));
  model.probes = (recent.probes ?? []).map((entry) => ({ ...entry, at: toLocal(entry.at) }));
  model.calls = new Map();
  for (const entry of recent.calls ?? []) addCalls(entry);
  renderConfig(status.config ?? {});
  control.configure(status.config ?? {});
}

function onTransition(data) {
  const { status, ...entry } = data;
  model.transitions.push({ ...entry, at: toLocal(entry.at) });
  if (status) {
    model.status = status;
    model.statusReceived = performance.now();
  }
  announce(`Circuit ${stateLabel(entry.to)}: ${entry.message ?? `changed from ${stateLabel(entry.from)} to ${stateLabel(entry.to)}`}`);
}

function onProbe(data) {
  const { counters, state: _state, ...entry } = data;
  model.probes.push({ ...entry, at: toLocal(entry.at) });
  // the state comes with transitions; the counters move with every probe
  if (model.status && counters) model.status = { ...model.status, counters };
}

function addCalls(entry) {
  const at = Math.floor(toLocal(entry.at) / 1000) * 1000;
  const { at: _at, seconds: _seconds, ...bySource } = entry;
  model.calls.set(at, bySource);
}

function onCalls(entry) {
  addCalls(entry);
  // the totals since start move with each period's calls
  const calls = model.status?.calls;
  if (!calls) return;
  const { at: _at, seconds: _seconds, ...bySource } = entry;
  for (const [source, outcomes] of Object.entries(bySource)) {
    calls[source] ??= {};
    for (const [outcome, n] of Object.entries(outcomes)) calls[source][outcome] = (calls[source][outcome] ?? 0) + n;
  }
}

function forget(now) {
  const oldest = now - KEEP_MS;
  // keep the transition before the window: it says which state the timeline starts in
  while (model.transitions.length > 1 && model.transitions[1].at < oldest) model.transitions.shift();
  while (model.probes.length > 0 && model.probes[0].at < oldest) model.probes.shift();
  for (const at of model.calls.keys()) if (at < oldest) model.calls.delete(at);
  if (model.notes.length > 20) model.notes.splice(0, model.notes.length - 20);
}

const handlers = { snapshot: onSnapshot, transition: onTransition, probe: onProbe, calls: onCalls };

/** Text parts at once (they are cheap and carry the state); charts at most a few times a second. */
let chartsDue = false;
function render() {
  const now = Date.now();
  renderConnection(model.connection, model.lostAt);
  if (!model.status) return;
  renderState(model, now);
  renderCounters(model.status);
  renderCalls(model.status.calls ?? {});
  renderDetails(model.status);
  renderFeed(model);
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
  const minutes = windowMinutes(now, LONGEST_MINUTES);
  const rateMinutes = windowMinutes(now, LONGEST_RATE_MINUTES);
  for (const span of document.querySelectorAll('.window-minutes')) span.textContent = String(minutes);
  document.getElementById('rate-minutes').textContent = String(rateMinutes);
  drawTimeline(document.getElementById('timeline'), model, now - minutes * 60_000, now);
  drawLatency(document.getElementById('latency'), model.probes, now - minutes * 60_000, now, (config.REQUEST_TIMEOUT ?? 2) * 1000);
  drawRate(document.getElementById('rate'), model.calls, rateMinutes * 60, now);
}

const control = setUpControl({
  currentState: () => model.status?.state,
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
  if (model.status) renderState(model, Date.now());
}, 200);
// the charts scroll with time even when nothing happens
setInterval(drawCharts, 1_000);
new ResizeObserver(() => drawCharts()).observe(document.querySelector('main'));
