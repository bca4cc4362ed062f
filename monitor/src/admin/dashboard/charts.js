// The charts, in plain SVG drawn to the width they are given: the states over the last minutes,
// probe latencies with failures marked, the proxy's answers per second by outcome, and (for a
// route with a concurrency limit) the limit and the calls in flight.
// Each says in words what it shows (aria-label and a visible summary), and marks differ by shape
// or pattern as well as colour.
import { count, duration, stateLabel, timeOfDay } from './format.js';
import { outcomesOf } from './view.js';

const SVG = 'http://www.w3.org/2000/svg';

const plural = (n, word) => `${n} ${word}${n === 1 ? '' : 's'}`;

function svgEl(tag, attributes = {}, ...children) {
  const element = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes)) element.setAttribute(name, String(value));
  element.append(...children);
  return element;
}

/** Sizes the SVG to its box; returns its width and height in CSS pixels. */
function fit(svg) {
  const width = Math.max(200, Math.floor(svg.parentElement.clientWidth));
  const height = Number(svg.dataset.height ?? 150);
  svg.setAttribute('width', width);
  svg.setAttribute('height', height);
  svg.setAttribute('viewBox', `0 0 ${width} ${height}`);
  return { width, height };
}

/** Minute ticks along the bottom: -5 min ... now. */
function timeAxis(width, height, from, to, left) {
  const ticks = [];
  const minutes = Math.round((to - from) / 60_000);
  // a label every minute, or every other one when they would touch
  const step = (width - left) / minutes < 56 ? 2 : 1;
  for (let i = minutes % step; i <= minutes; i += step) {
    const x = left + ((width - left) * i) / minutes;
    const label = i === minutes ? 'now' : `−${minutes - i} min`;
    const anchor = i === 0 ? 'start' : i === minutes ? 'end' : 'middle';
    ticks.push(svgEl('line', { x1: x, x2: x, y1: height - 16, y2: height - 12, class: 'axis' }));
    ticks.push(svgEl('text', { x, y: height - 2, 'text-anchor': anchor, class: 'tick' }, label));
  }
  return ticks;
}

/** Which state held from when to when, from the transitions and the current state. */
export function segments(model, from, to) {
  const begin = Math.max(from, model.startedAt ?? from);
  const list = [];
  const transitions = model.transitions;
  let state = transitions[0]?.from ?? model.status.state;
  let start = begin;
  for (const transition of transitions) {
    if (transition.at > start) {
      list.push({ state, start, end: Math.min(transition.at, to) });
      start = transition.at;
    }
    state = transition.to;
  }
  if (transitions.length === 0) state = model.status.state;
  if (to > start) list.push({ state, start, end: to });
  return list.filter((segment) => segment.end > segment.start);
}

const PATTERNS = { open: 'hatch', half_open: 'dots', isolated: 'cross' };

function patternDefs() {
  return svgEl(
    'defs',
    {},
    svgEl('pattern', { id: 'hatch', width: 8, height: 8, patternUnits: 'userSpaceOnUse', patternTransform: 'rotate(45)' }, svgEl('line', { x1: 0, y1: 0, x2: 0, y2: 8, class: 'pattern-line' })),
    svgEl('pattern', { id: 'dots', width: 8, height: 8, patternUnits: 'userSpaceOnUse' }, svgEl('circle', { cx: 4, cy: 4, r: 1.6, class: 'pattern-dot' })),
    svgEl(
      'pattern',
      { id: 'cross', width: 8, height: 8, patternUnits: 'userSpaceOnUse' },
      svgEl('line', { x1: 0, y1: 0, x2: 8, y2: 8, class: 'pattern-line' }),
      svgEl('line', { x1: 8, y1: 0, x2: 0, y2: 8, class: 'pattern-line' }),
    ),
  );
}

export function drawTimeline(svg, model, from, to) {
  const { width, height } = fit(svg);
  const barTop = 4;
  const barHeight = height - 26;
  const x = (t) => ((t - from) / (to - from)) * width;
  const parts = [patternDefs(), svgEl('rect', { x: 0, y: barTop, width, height: barHeight, class: 'no-data' })];
  const list = segments(model, from, to);
  for (const segment of list) {
    const x0 = x(segment.start);
    const w = Math.max(1, x(segment.end) - x0);
    const title = svgEl('title', {}, `${stateLabel(segment.state)} from ${timeOfDay(segment.start)} for ${duration(segment.end - segment.start)}`);
    parts.push(svgEl('rect', { x: x0, y: barTop, width: w, height: barHeight, class: `state-fill s-${segment.state}` }, title));
    const pattern = PATTERNS[segment.state];
    if (pattern) parts.push(svgEl('rect', { x: x0, y: barTop, width: w, height: barHeight, fill: `url(#${pattern})` }));
    if (w > 64) parts.push(svgEl('text', { x: x0 + 6, y: barTop + barHeight / 2 + 5, class: 'segment-label' }, stateLabel(segment.state)));
  }
  parts.push(...timeAxis(width, height, from, to, 0));
  svg.replaceChildren(...parts);
  const described = list.map((s) => `${stateLabel(s.state)} from ${timeOfDay(s.start)} for ${duration(s.end - s.start)}`).join('; ');
  svg.setAttribute('aria-label', `States over the last ${plural(Math.round((to - from) / 60_000), 'minute')}: ${described || 'no data yet'}`);
}

/** A round number at or above `value`, for an axis: 1, 2, 5, 10, 20, 50... */
function niceCeil(value) {
  const power = 10 ** Math.floor(Math.log10(Math.max(value, 1e-9)));
  for (const step of [1, 2, 5, 10]) if (value <= step * power) return step * power;
  return 10 * power;
}

export function drawLatency(svg, probes, from, to, timeoutMs) {
  const { width, height } = fit(svg);
  const left = 58;
  const top = 8;
  const bottom = height - 20;
  const shown = probes.filter((p) => p.at >= from && p.at <= to);
  const slowest = Math.max(0, ...shown.map((p) => p.latencyMs));
  const max = Math.min(niceCeil(Math.max(5, slowest * 1.1)), niceCeil(timeoutMs * 1.1));
  const x = (t) => left + ((t - from) / (to - from)) * (width - left);
  const y = (ms) => bottom - (Math.min(ms, max) / max) * (bottom - top);
  const parts = [];
  for (const fraction of [0, 0.5, 1]) {
    const value = max * fraction;
    parts.push(svgEl('line', { x1: left, x2: width, y1: y(value), y2: y(value), class: 'grid' }));
    parts.push(svgEl('text', { x: left - 6, y: y(value) + 4, 'text-anchor': 'end', class: 'tick' }, `${count(value)} ms`));
  }
  for (const probe of shown) {
    const cx = x(probe.at);
    const cy = y(probe.latencyMs);
    const title = svgEl('title', {}, `${timeOfDay(probe.at)}: ${probe.ok ? `HTTP ${probe.status}` : probe.reason} in ${probe.latencyMs} ms`);
    if (probe.ok) {
      parts.push(svgEl('circle', { cx, cy, r: 3, class: 'probe-ok' }, title));
    } else {
      const r = 4.5;
      parts.push(
        svgEl('g', { class: 'probe-failed' }, title, svgEl('line', { x1: cx - r, y1: cy - r, x2: cx + r, y2: cy + r }), svgEl('line', { x1: cx - r, y1: cy + r, x2: cx + r, y2: cy - r })),
      );
    }
  }
  parts.push(...timeAxis(width, height, from, to, left));
  svg.replaceChildren(...parts);

  const failed = shown.filter((p) => !p.ok);
  const ok = shown.filter((p) => p.ok).map((p) => p.latencyMs).sort((a, b) => a - b);
  const median = ok.length > 0 ? ok[Math.floor(ok.length / 2)] : undefined;
  const last = failed[failed.length - 1];
  const summary =
    shown.length === 0
      ? 'No probe results in the last minutes yet.'
      : `${shown.length} probes in the last ${plural(Math.round((to - from) / 60_000), 'minute')}` +
        (median === undefined ? '' : `; successful ones took ${median} ms (median), ${ok[ok.length - 1]} ms at most`) +
        `; ${failed.length} failed${last ? ` (last: ${last.reason} at ${timeOfDay(last.at)})` : ''}.`;
  svg.setAttribute('aria-label', `Probe latency: ${summary}`);
  const text = document.getElementById('latency-summary');
  if (text.textContent !== summary) text.textContent = summary;
}

export function drawRate(svg, calls, seconds, now) {
  const { width, height } = fit(svg);
  const left = 58;
  const top = 8;
  const bottom = height - 20;
  const end = Math.floor(now / 1000) * 1000;
  const start = end - seconds * 1000;
  const perSecond = [];
  for (let at = start + 1000; at <= end; at += 1000) perSecond.push({ at, outcomes: calls.get(at)?.proxy ?? {} });
  const outcomes = outcomesOf({ proxy: Object.assign({}, ...perSecond.map((s) => s.outcomes)) });
  const totals = perSecond.map((s) => Object.values(s.outcomes).reduce((a, b) => a + b, 0));
  const max = niceCeil(Math.max(1, ...totals));
  const slot = (width - left) / seconds;
  const y = (n) => bottom - (n / max) * (bottom - top);
  const parts = [];
  for (const fraction of [0, 0.5, 1]) {
    parts.push(svgEl('line', { x1: left, x2: width, y1: y(max * fraction), y2: y(max * fraction), class: 'grid' }));
    parts.push(svgEl('text', { x: left - 6, y: y(max * fraction) + 4, 'text-anchor': 'end', class: 'tick' }, `${count(max * fraction)}/s`));
  }
  perSecond.forEach((second, i) => {
    let base = 0;
    for (const outcome of outcomes) {
      const n = second.outcomes[outcome] ?? 0;
      if (n === 0) continue;
      parts.push(
        svgEl(
          'rect',
          { x: left + i * slot + 0.5, y: y(base + n), width: Math.max(1, slot - 1), height: y(base) - y(base + n), class: `outcome o-${outcome}` },
          svgEl('title', {}, `${timeOfDay(second.at)}: ${n} ${outcome}`),
        ),
      );
      base += n;
    }
  });
  const minutes = seconds / 60;
  parts.push(...timeAxis(width, height, end - minutes * 60_000, end, left));
  svg.replaceChildren(...parts);

  // the legend doubles as the numbers: answers per second over the last 10 s
  const recent = perSecond.slice(-10);
  const legend = document.getElementById('rate-legend');
  const rates = outcomes.map((outcome) => [outcome, recent.reduce((sum, s) => sum + (s.outcomes[outcome] ?? 0), 0) / recent.length]);
  const signature = JSON.stringify(rates);
  if (legend.dataset.signature !== signature) {
    legend.dataset.signature = signature;
    legend.replaceChildren(
      ...rates.map(([outcome, rate]) => {
        const item = document.createElement('li');
        const swatch = document.createElement('span');
        swatch.className = `swatch o-${outcome}`;
        swatch.setAttribute('aria-hidden', 'true');
        item.append(swatch, `${outcome}: ${count(rate)}/s`);
        return item;
      }),
    );
  }
  const busiest = Math.max(0, ...totals);
  svg.setAttribute(
    'aria-label',
    `Proxy answers per second over the last ${plural(minutes, 'minute')}, by outcome: at most ${count(busiest)} in one second; over the last 10 s: ` +
      rates.map(([outcome, rate]) => `${outcome} ${count(rate)}/s`).join(', '),
  );
}

/**
 * Which limit and calls in flight held from when to when: each reading holds until the next, the
 * last until `to`; the one before `from` (the page keeps it) says where the window begins.
 */
export function limitSteps(readings, from, to, startedAt) {
  const begin = Math.max(from, startedAt ?? from);
  const steps = [];
  readings.forEach((reading, i) => {
    const start = Math.max(begin, reading.at);
    const end = Math.min(to, readings[i + 1]?.at ?? to);
    if (end > start) steps.push({ start, end, limit: reading.limit, inFlight: reading.inFlight });
  });
  return steps;
}

const LIMIT_MODES = { fixed: 'fixed limit', adaptive: 'adaptive limit' };

/** The limit (a step line) and the calls in flight (bars, striped where they fill the limit) over the window. */
export function drawLimit(svg, readings, concurrency, from, to, startedAt) {
  const { width, height } = fit(svg);
  const left = 58;
  const top = 8;
  const bottom = height - 20;
  const steps = limitSteps(readings, from, to, startedAt);
  const highest = Math.max(1, concurrency.limit, concurrency.inFlight, ...steps.flatMap((step) => [step.limit, step.inFlight]));
  const max = niceCeil(highest * 1.1);
  const x = (t) => left + ((t - from) / (to - from)) * (width - left);
  const y = (n) => bottom - (Math.min(n, max) / max) * (bottom - top);
  const parts = [
    svgEl(
      'defs',
      {},
      svgEl('pattern', { id: 'full-hatch', width: 6, height: 6, patternUnits: 'userSpaceOnUse', patternTransform: 'rotate(45)' }, svgEl('line', { x1: 0, y1: 0, x2: 0, y2: 6, class: 'pattern-line' })),
    ),
  ];
  // calls are whole: the middle tick is a whole number too
  for (const value of new Set([0, Math.round(max / 2), max])) {
    parts.push(svgEl('line', { x1: left, x2: width, y1: y(value), y2: y(value), class: 'grid' }));
    parts.push(svgEl('text', { x: left - 6, y: y(value) + 4, 'text-anchor': 'end', class: 'tick' }, count(value)));
  }
  for (const step of steps) {
    if (step.inFlight === 0) continue;
    const full = step.inFlight >= step.limit;
    const x0 = x(step.start);
    const w = Math.max(1, x(step.end) - x0);
    const title = svgEl('title', {}, `${timeOfDay(step.start)} for ${duration(step.end - step.start)}: ${step.inFlight} in flight, limit ${step.limit}`);
    parts.push(svgEl('rect', { x: x0, y: y(step.inFlight), width: w, height: bottom - y(step.inFlight), class: `in-flight${full ? ' full' : ''}` }, title));
    if (full) parts.push(svgEl('rect', { x: x0, y: y(step.inFlight), width: w, height: bottom - y(step.inFlight), fill: 'url(#full-hatch)' }));
  }
  // the limit: flat while it holds, a vertical step where it moved
  const path = steps.map((step, i) => `${i === 0 ? 'M' : 'L'}${x(step.start).toFixed(1)},${y(step.limit).toFixed(1)} L${x(step.end).toFixed(1)},${y(step.limit).toFixed(1)}`).join(' ');
  if (path) parts.push(svgEl('path', { d: path, class: 'limit-line' }));
  const last = steps[steps.length - 1];
  if (last) parts.push(svgEl('text', { x: x(last.end) - 4, y: y(last.limit) - 5, 'text-anchor': 'end', class: 'limit-label' }, `limit ${last.limit}`));
  parts.push(...timeAxis(width, height, from, to, left));
  svg.replaceChildren(...parts);

  const minutes = Math.round((to - from) / 60_000);
  const peak = Math.max(concurrency.inFlight, ...steps.map((step) => step.inFlight));
  const limits = steps.map((step) => step.limit);
  const lowest = Math.min(concurrency.limit, ...limits);
  const widest = Math.max(concurrency.limit, ...limits);
  const mode = LIMIT_MODES[concurrency.mode] ?? `${concurrency.mode} limit`;
  const modeText = concurrency.mode === 'fixed' ? `${mode}: ${plural(concurrency.limit, 'call')} at once` : `${mode}: now ${concurrency.limit} calls at once`;
  const full = concurrency.inFlight >= concurrency.limit;
  const summary =
    `${concurrency.inFlight} in flight now${full ? ' (the limit is full: more calls are answered 503 overloaded)' : ''}; ` +
    `at most ${peak} in the last ${plural(minutes, 'minute')}` +
    (concurrency.mode === 'fixed' || lowest === widest ? '.' : `; the limit moved between ${lowest} and ${widest}.`);
  const modeLine = document.getElementById('limit-mode');
  if (modeLine.textContent !== modeText) modeLine.textContent = modeText;
  const text = document.getElementById('limit-summary');
  if (text.textContent !== summary) text.textContent = summary;
  svg.setAttribute('aria-label', `Calls in flight and the ${modeText}: ${summary}`);
}
