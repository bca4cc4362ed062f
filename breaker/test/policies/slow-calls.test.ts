import { slowReason } from '../../src/policies/slow-calls';

describe('slow calls', () => {
  it('over the threshold: a failure with the reason slow: <ms> ms', () => {
    expect(slowReason(1_800.4, 1_000)).toBe('slow: 1800 ms');
  });

  it('at or under the threshold: not slow', () => {
    expect(slowReason(1_000, 1_000)).toBeUndefined();
    expect(slowReason(3, 1_000)).toBeUndefined();
  });

  it('without a threshold nothing is slow', () => {
    expect(slowReason(1e9, undefined)).toBeUndefined();
  });
});
