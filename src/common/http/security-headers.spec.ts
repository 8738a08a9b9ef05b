import { API_HEADERS, helmetHeaders, securityHeaders } from './security-headers';

function headersFor(url: string): [string, string][] {
  const set: [string, string][] = [];
  const next = jest.fn();
  securityHeaders()({ url } as never, { setHeader: (name: string, value: string) => set.push([name, value]) } as never, next);
  expect(next).toHaveBeenCalledTimes(1);
  return set;
}

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

  it.each(['/generate/pop', '/generate/prompt/34a9f91a?x=1', '/servers', '/usage', '/contributions', '/users/db0', '/models', '/api/v2/generate/text/pop', '/api/v2/find_user', '/v2/generate/text/status/x'])(
    'sets the four API headers on the JSON API route %s',
    (url) => expect(headersFor(url)).toEqual(API_HEADERS),
  );

  it.each(['/', '/index.html', '/status.js', '/api', '/api/swagger-ui-init.js', '/api-json', '/api/v2', '/generated', '/nope'])(
    "sets helmet's headers on %s",
    (url) => expect(headersFor(url)).toEqual(helmetHeaders()),
  );
});
