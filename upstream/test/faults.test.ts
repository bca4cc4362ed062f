import { FAULT_MODES, describeFault, parseFault } from '../src/faults';

describe('fault modes', () => {
  it('accepts every mode by name', () => {
    for (const mode of FAULT_MODES) {
      const parsed = parseFault(mode, null);
      expect(parsed).toMatchObject({ ok: true, fault: { mode } });
    }
  });

  it('answers error with 500 and client-error with 404 unless a status is chosen', () => {
    expect(parseFault('error', null)).toEqual({ ok: true, fault: { mode: 'error', status: 500 } });
    expect(parseFault('client-error', null)).toEqual({ ok: true, fault: { mode: 'client-error', status: 404 } });
    expect(parseFault('error', '503')).toEqual({ ok: true, fault: { mode: 'error', status: 503 } });
    expect(parseFault('client-error', '429')).toEqual({ ok: true, fault: { mode: 'client-error', status: 429 } });
  });

  it.each([
    ['error', '499'],
    ['error', '600'],
    ['client-error', '500'],
    ['client-error', '399'],
    ['client-error', '4e2'],
    ['client-error', ''],
  ])('refuses %s with status "%s" outside its range', (mode, status) => {
    expect(parseFault(mode, status)).toMatchObject({ ok: false, error: expect.stringContaining('must be') });
  });

  it('refuses a status on modes that do not answer with one', () => {
    expect(parseFault('hang', '429')).toEqual({ ok: false, error: 'fault mode "hang" takes no status' });
  });

  it('refuses an unknown mode by name', () => {
    expect(parseFault('sluggish', null)).toEqual({ ok: false, error: 'unknown fault mode "sluggish"' });
    expect(parseFault('toString', null)).toMatchObject({ ok: false });
  });

  it('describes a fault with its status for logs', () => {
    expect(describeFault({ mode: 'client-error', status: 429 })).toBe('client-error 429');
    expect(describeFault({ mode: 'hang' })).toBe('hang');
  });
});

describe('policy fault modes', () => {
  it('slow takes ms (default 2000, at most 600000)', () => {
    expect(parseFault('slow')).toEqual({ ok: true, fault: { mode: 'slow', ms: 2_000 } });
    expect(parseFault('slow', { ms: '1800' })).toEqual({ ok: true, fault: { mode: 'slow', ms: 1_800 } });
    expect(parseFault('slow', { ms: '-1' })).toEqual({ ok: false, error: 'ms for "slow" must be 0-600000, got "-1"' });
    expect(parseFault('slow', { ms: '600001' })).toMatchObject({ ok: false });
  });

  it('flaky takes percent, status and retryAfter', () => {
    expect(parseFault('flaky', { percent: '60' })).toEqual({ ok: true, fault: { mode: 'flaky', percent: 60, status: 500 } });
    expect(parseFault('flaky', { percent: '12.5', status: '429', retryAfter: '3' })).toEqual({
      ok: true,
      fault: { mode: 'flaky', percent: 12.5, status: 429, retryAfter: '3' },
    });
    expect(parseFault('flaky', { percent: 'lots' })).toMatchObject({ ok: false });
    expect(parseFault('flaky', { status: '302' })).toEqual({ ok: false, error: 'status for "flaky" must be 400-599, got "302"' });
  });

  it('retryAfter on error answers: seconds or an HTTP date', () => {
    expect(parseFault('error', { status: '503', retryAfter: '5' })).toEqual({ ok: true, fault: { mode: 'error', status: 503, retryAfter: '5' } });
    expect(parseFault('client-error', { status: '429', retryAfter: 'Tue, 01 Dec 2026 10:00:30 GMT' })).toMatchObject({ ok: true });
    expect(parseFault('error', { retryAfter: '1.5' })).toMatchObject({ ok: false });
    expect(parseFault('hang', { retryAfter: '5' })).toEqual({ ok: false, error: 'fault mode "hang" takes no retryAfter' });
    expect(parseFault('normal', { ms: '5' })).toEqual({ ok: false, error: 'fault mode "normal" takes no ms' });
  });

  it('describes them for logs', () => {
    expect(describeFault({ mode: 'slow', ms: 1_800 })).toBe('slow 1800 ms');
    expect(describeFault({ mode: 'flaky', percent: 60, status: 500 })).toBe('flaky 60% 500');
    expect(describeFault({ mode: 'error', status: 503, retryAfter: '5' })).toBe('error 503 retry-after 5');
  });
});
