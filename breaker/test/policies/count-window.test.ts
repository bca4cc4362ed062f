import { CountWindow } from '../../src/policies/count-window';

describe('count window', () => {
  it('holds the last N calls: the oldest drops out as a new one comes in', () => {
    const window = new CountWindow(3);
    window.add(true);
    window.add(true);
    window.add(false);
    expect(window.counts()).toEqual({ calls: 3, failures: 2 });
    window.add(false); // the first failure drops out
    expect(window.counts()).toEqual({ calls: 3, failures: 1 });
    window.add(false);
    window.add(false);
    expect(window.counts()).toEqual({ calls: 3, failures: 0 });
  });

  it('holds fewer calls until it is full', () => {
    const window = new CountWindow(20);
    window.add(true);
    expect(window.counts()).toEqual({ calls: 1, failures: 1 });
  });

  it('is empty after clear', () => {
    const window = new CountWindow(2);
    window.add(true);
    window.add(true);
    window.clear();
    window.add(false);
    expect(window.counts()).toEqual({ calls: 1, failures: 0 });
  });
});
