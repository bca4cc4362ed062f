import { mergeSettings } from '../../src/registry/overrides';

describe('overrides over the template', () => {
  it('are merged field by field: a field left out, or undefined, is the template\'s', () => {
    const template = { errorThreshold: 5, openWindowMs: 30_000, successThreshold: 2 };
    expect(mergeSettings(template, { errorThreshold: 2, openWindowMs: undefined })).toEqual({ errorThreshold: 2, openWindowMs: 30_000, successThreshold: 2 });
    expect(mergeSettings(template, undefined)).toBe(template);
    expect(mergeSettings({}, { failureRateThreshold: 50 })).toEqual({ failureRateThreshold: 50 });
  });

  it('merge a time window field by field: buckets alone keep the length, a length alone keeps the buckets', () => {
    const template = { failureRateThreshold: 50, slidingWindow: { timeMs: 60_000, buckets: 10 } };
    expect(mergeSettings(template, { slidingWindow: { buckets: 20 } }).slidingWindow).toEqual({ timeMs: 60_000, buckets: 20 });
    expect(mergeSettings(template, { slidingWindow: { timeMs: 30_000 } }).slidingWindow).toEqual({ timeMs: 30_000, buckets: 10 });
    expect(mergeSettings(template, { slidingWindow: {} }).slidingWindow).toEqual({ timeMs: 60_000, buckets: 10 });
    expect(template.slidingWindow).toEqual({ timeMs: 60_000, buckets: 10 });
  });

  it('replace a window of the other kind', () => {
    expect(mergeSettings({ slidingWindow: { timeMs: 60_000, buckets: 10 } }, { slidingWindow: { calls: 50 } }).slidingWindow).toEqual({ calls: 50 });
    expect(mergeSettings({ slidingWindow: { calls: 50 } }, { slidingWindow: { timeMs: 10_000 } }).slidingWindow).toEqual({ timeMs: 10_000 });
    expect(mergeSettings({}, { slidingWindow: { timeMs: 10_000, buckets: 5 } }).slidingWindow).toEqual({ timeMs: 10_000, buckets: 5 });
  });

  it('refuse buckets over a count window: there is no length to split', () => {
    expect(() => mergeSettings({ slidingWindow: { calls: 50 } }, { slidingWindow: { buckets: 5 } })).toThrow(RangeError);
    // the breaker's default window counts calls
    expect(() => mergeSettings({}, { slidingWindow: { buckets: 5 } })).toThrow(/needs a timeMs/);
  });
});
