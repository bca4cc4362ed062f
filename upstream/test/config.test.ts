import { parseConfig } from '../src/config';

describe('upstream configuration', () => {
  it('listens on 0.0.0.0:3000 by default', () => {
    expect(parseConfig({})).toEqual({ ok: true, config: { port: 3000, host: '0.0.0.0' } });
  });

  it('takes PORT and HOST from the environment, PORT=0 meaning any free port', () => {
    expect(parseConfig({ PORT: '0', HOST: '127.0.0.1' })).toEqual({ ok: true, config: { port: 0, host: '127.0.0.1' } });
  });

  it.each(['abc', '-1', '65536', '80.5'])('refuses PORT=%s naming the variable and what is accepted', (port) => {
    expect(parseConfig({ PORT: port })).toEqual({
      ok: false,
      errors: [`PORT="${port}" is not valid: expected an integer 0-65535 (0 = any free port)`],
    });
  });
});
