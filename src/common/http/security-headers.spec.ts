import { helmetHeaders, securityHeaders } from './security-headers';

describe('securityHeaders', () => {
  it('precomputes the headers helmet sets, with our policy and without HSTS', () => {
    const headers = new Map(helmetHeaders().map(([name, value]) => [name.toLowerCase(), value]));
    expect(headers.get('x-content-type-options')).toBe('nosniff');
    expect(headers.get('x-frame-options')).toBe('SAMEORIGIN');
    expect(headers.get('content-security-policy')).toBe(
      "default-src 'self';script-src 'self';script-src-attr 'none';style-src 'self' 'unsafe-inline';img-src 'self' data:;font-src 'self' data:;" +
        "connect-src 'self';object-src 'none';base-uri 'self';form-action 'self';frame-ancestors 'self'",
    );
    expect(headers.has('strict-transport-security')).toBe(false);
  });

  it('sets every one of them on a response and calls next', () => {
    const set = new Map<string, string>();
    const next = jest.fn();
    securityHeaders()({} as never, { setHeader: (name: string, value: string) => set.set(name, value) } as never, next);
    expect([...set]).toEqual(helmetHeaders());
    expect(next).toHaveBeenCalledTimes(1);
  });
});
