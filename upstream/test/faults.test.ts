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
    expect(parseFault('slow', null)).toEqual({ ok: false, error: 'unknown fault mode "slow"' });
    expect(parseFault('toString', null)).toMatchObject({ ok: false });
  });

  it('describes a fault with its status for logs', () => {
    expect(describeFault({ mode: 'client-error', status: 429 })).toBe('client-error 429');
    expect(describeFault({ mode: 'hang' })).toBe('hang');
  });
});
