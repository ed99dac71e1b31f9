/* ERP assistant: the browser's client for the JSON/SSE API (see the HTTP API contract).
 *
 * A classic script (no modules) so that the widget can load it onto any intranet page:
 *   const api = ErpApi.createClient({ base: "http://erp.example:8765" });
 *   const me = await api.me();                       // also remembers the CSRF token
 *   await api.stream(`/api/conversations/${id}/messages`, { text }, (name, data) => ...);
 * Errors are thrown as ErpApi.ApiError with .code, .status and .message from the server's body.
 */
(function (global) {
  'use strict';

  if (global.ErpApi) return;

  const UNSAFE_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

  /** An API failure: the server's {code, message} (or a network failure, status 0). */
  class ApiError extends Error {
    constructor(status, body, headers) {
      const info = body && typeof body === 'object' ? body : {};
      super(info.message || describeStatus(status));
      this.name = 'ApiError';
      this.status = status;
      this.code = info.code || (status === 0 ? 'network_error' : 'http_' + status);
      this.details = info;
      this.retryAfter = retryAfterSeconds(info, headers);
    }
  }

  function describeStatus(status) {
    if (status === 0) return 'The server could not be reached. Check your connection and try again.';
    if (status >= 500) return 'The server had a problem (' + status + '). Try again in a moment.';
    return 'The request failed (' + status + ').';
  }

  function retryAfterSeconds(info, headers) {
    if (typeof info.retry_after_s === 'number') return info.retry_after_s;
    const header = headers && headers.get && headers.get('Retry-After');
    const seconds = header ? Number(header) : NaN;
    return Number.isFinite(seconds) ? seconds : null;
  }

  /** "http://host:8765/" or "" (same origin) -> a base without the trailing slash. */
  function normalizeBase(base) {
    return String(base || '').replace(/\/+$/, '');
  }

  /** Query string from an object, leaving out empty values. */
  function queryString(query) {
    if (!query) return '';
    const params = new URLSearchParams();
    Object.keys(query).forEach((key) => {
      const value = query[key];
      if (value !== undefined && value !== null && value !== '') params.append(key, String(value));
    });
    const text = params.toString();
    return text ? '?' + text : '';
  }

  async function readBody(response) {
    if (response.status === 204) return null;
    const type = response.headers.get('Content-Type') || '';
    if (type.includes('json')) {
      try { return await response.json(); } catch (err) { return null; }
    }
    const text = await response.text();
    return text ? { message: text.slice(0, 300) } : null;
  }

  async function errorFrom(response) {
    return new ApiError(response.status, await readBody(response), response.headers);
  }

  /**
   * Incremental parser for text/event-stream. push() any slice of text (chunks may split
   * lines, fields or frames anywhere); it calls onEvent(name, data) once per complete frame,
   * with data parsed as JSON when it is JSON. finish() flushes a last frame without its blank line.
   */
  class SseParser {
    constructor(onEvent) {
      this.onEvent = onEvent;
      this.buffer = '';
      this.eventName = '';
      this.dataLines = [];
    }

    push(text) {
      let chunk = this.buffer + text;
      // A chunk ending in "\r" may be the first half of "\r\n": hold it until more arrives.
      const held = chunk.endsWith('\r') ? '\r' : '';
      if (held) chunk = chunk.slice(0, -1);
      const lines = chunk.split(/\r\n|\r|\n/);
      this.buffer = lines.pop() + held;
      lines.forEach((line) => this._line(line));
    }

    finish() {
      const rest = this.buffer.replace(/\r$/, '');
      this.buffer = '';
      if (rest) this._line(rest);
      this._dispatch();
    }

    _line(line) {
      if (line === '') { this._dispatch(); return; }
      if (line.startsWith(':')) return;
      const colon = line.indexOf(':');
      const field = colon === -1 ? line : line.slice(0, colon);
      let value = colon === -1 ? '' : line.slice(colon + 1);
      if (value.startsWith(' ')) value = value.slice(1);
      if (field === 'event') this.eventName = value;
      else if (field === 'data') this.dataLines.push(value);
    }

    _dispatch() {
      if (!this.dataLines.length) { this.eventName = ''; return; }
      const name = this.eventName || 'message';
      const raw = this.dataLines.join('\n');
      this.eventName = '';
      this.dataLines = [];
      let data = raw;
      try { data = JSON.parse(raw); } catch (err) { /* not JSON: hand over the text */ }
      try {
        this.onEvent(name, data);
      } catch (err) {
        if (global.console) global.console.error('ErpApi: event handler failed', err);
      }
    }
  }

  /** Read a fetch Response body as an event stream until it ends. */
  async function readEventStream(response, onEvent) {
    const parser = new SseParser(onEvent);
    const decoder = new TextDecoder('utf-8');
    if (!response.body || !response.body.getReader) {
      parser.push(await response.text());
      parser.finish();
      return;
    }
    const reader = response.body.getReader();
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      parser.push(decoder.decode(value, { stream: true }));
    }
    parser.push(decoder.decode());
    parser.finish();
  }

  /** A client bound to one server: { base } is "" for same-origin pages. */
  function createClient(options) {
    const base = normalizeBase(options && options.base);
    let csrfToken = null;
    let csrfLoading = null;

    function url(path, query) {
      return base + path + queryString(query);
    }

    function rememberMe(me) {
      if (me && typeof me === 'object' && 'csrf_token' in me) csrfToken = me.csrf_token;
      return me;
    }

    function needsCsrf(method, path) {
      // Signing in has no session yet; signing out ends one, so it sends the token like any write.
      return UNSAFE_METHODS.has(method) && !(method === 'POST' && path === '/api/session');
    }

    /** The CSRF token, fetched from /api/me the first time a write needs it. */
    async function ensureCsrf() {
      if (csrfToken) return csrfToken;
      if (!csrfLoading) {
        csrfLoading = me().catch(() => null).finally(() => { csrfLoading = null; });
      }
      await csrfLoading;
      return csrfToken;
    }

    async function send(method, path, opts) {
      const headers = { Accept: 'application/json' };
      const init = { method, headers, credentials: 'include', signal: opts.signal };
      if (opts.body !== undefined) {
        headers['Content-Type'] = 'application/json';
        init.body = JSON.stringify(opts.body);
      }
      if (opts.accept) headers.Accept = opts.accept;
      if (needsCsrf(method, path)) {
        const token = await ensureCsrf();
        if (token) headers['X-CSRF-Token'] = token;
      }
      try {
        return await fetch(url(path, opts.query), init);
      } catch (err) {
        if (err && err.name === 'AbortError') throw err;
        throw new ApiError(0, null);
      }
    }

    /** fetch + error mapping; retries once when the CSRF token went stale. */
    async function exchange(method, path, opts) {
      let response = await send(method, path, opts);
      if (response.status === 403 && needsCsrf(method, path)) {
        const error = await errorFrom(response);
        if (error.code !== 'csrf_failed') throw error;
        csrfToken = null;
        await ensureCsrf();
        response = await send(method, path, opts);
      }
      if (!response.ok) throw await errorFrom(response);
      return response;
    }

    async function request(method, path, opts) {
      const response = await exchange(method, path, opts || {});
      return readBody(response);
    }

    function me() {
      return request('GET', '/api/me').then(rememberMe, (err) => {
        if (err.status === 401) csrfToken = null;
        throw err;
      });
    }

    function signIn(username, password) {
      return request('POST', '/api/session', { body: { username, password } }).then(rememberMe);
    }

    async function signOut() {
      try {
        await request('DELETE', '/api/session');
      } finally {
        csrfToken = null;
      }
    }

    /**
     * POST a JSON body to an SSE endpoint and call onEvent(name, data) for each frame.
     * Resolves when the stream ends; rejects with ApiError if the server answers with an error
     * before streaming (409, 413, 429, ...). opts.signal aborts it.
     */
    async function stream(path, body, onEvent, opts) {
      const response = await exchange('POST', path, {
        body,
        accept: 'text/event-stream',
        signal: opts && opts.signal,
      });
      const type = response.headers.get('Content-Type') || '';
      if (!type.includes('text/event-stream')) {
        const payload = await readBody(response);
        throw new ApiError(response.status, payload && payload.code ? payload : { code: 'bad_stream',
          message: 'The server did not answer with a stream.' });
      }
      await readEventStream(response, onEvent);
    }

    return {
      base,
      url,
      request,
      get: (path, query, opts) => request('GET', path, Object.assign({ query }, opts)),
      post: (path, body, opts) => request('POST', path, Object.assign({ body: body || {} }, opts)),
      del: (path, opts) => request('DELETE', path, opts),
      me,
      signIn,
      signOut,
      stream,
      csrfToken: () => csrfToken,
    };
  }

  global.ErpApi = { createClient, ApiError, SseParser, readEventStream, queryString, normalizeBase };
})(typeof window !== 'undefined' ? window : globalThis);
