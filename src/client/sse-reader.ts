/**
 * Server-sent events for the client: the browser's EventSource where there is one and it can do
 * the job, else a reader over fetch. Node 20 has fetch but no EventSource, and EventSource cannot
 * send headers (an Authorization header, say). Both ways behave alike: named events with JSON
 * data, a dropped connection resumed with `Last-Event-ID` after the server's `retry:` delay, and
 * a refused stream (anything but a 200 `text/event-stream`) failing for good.
 */

/** Handlers by event name, each given the event's data parsed as JSON. */
// biome-ignore lint/suspicious/noExplicitAny: the data is the API's JSON; each handler knows its shape.
export type EventHandlers = Record<string, (data: any) => void>;

/** What one stream keeps across reconnects: WHATWG HTML's "last event ID string" and "reconnection time". */
export interface StreamState {
  lastEventId: string;
  /** Milliseconds to wait before reconnecting; the server may change it with `retry:`. */
  retry: number;
}

/**
 * Called with the number of connection attempts that failed or dropped in a row, after each one,
 * and with 0 once a connection is open again: what a page needs to say "cannot reach the server".
 */
export type ConnectionListener = (failures: number) => void;

/**
 * Opens `url` as an event stream and calls `on[name]` for each event the server sends; returns
 * the function that closes it. `fail` is called once if the server refuses the stream (401, 404,
 * not an event stream), which is then not tried again; any other drop reconnects by itself, and
 * is told to `connection`.
 */
export function openEventStream(
  url: string,
  headers: Record<string, string>,
  on: EventHandlers,
  fail: (reason: string) => void,
  connection: ConnectionListener = () => {},
): () => void {
  if (typeof EventSource === 'function' && Object.keys(headers).length === 0) {
    const source = new EventSource(url);
    for (const name of Object.keys(on)) {
      source.addEventListener(name, (e) => on[name]?.(JSON.parse((e as MessageEvent<string>).data)));
    }
    let failures = 0;
    source.onopen = () => {
      failures = 0;
      connection(0);
    };
    // CLOSED (2) means the browser gave up; otherwise it reconnects with Last-Event-ID by itself.
    source.onerror = () => (source.readyState === 2 ? fail('') : connection(++failures));
    return () => source.close();
  }
  return fetchEventStream(url, headers, (name, data) => on[name]?.(JSON.parse(data)), fail, connection);
}

/** The EventSource algorithm over fetch (WHATWG HTML §9.2), which also sends `headers`. */
export function fetchEventStream(
  url: string,
  headers: Record<string, string>,
  onEvent: (name: string, data: string) => void,
  fail: (reason: string) => void,
  connection: ConnectionListener = () => {},
): () => void {
  let failures = 0;
  // Browsers wait 3 s (Chromium) to 5 s (Firefox) before reconnecting unless the server says.
  const state: StreamState = { lastEventId: '', retry: 3000 };
  const abort = new AbortController();
  const { signal } = abort;
  /** Ends the wait before a reconnect early (on close). */
  let wake = () => {};
  const run = async () => {
    while (!signal.aborted) {
      try {
        const response = await fetch(url, {
          headers: {
            accept: 'text/event-stream',
            ...headers,
            ...(state.lastEventId ? { 'last-event-id': state.lastEventId } : {}),
          },
          credentials: 'same-origin',
          cache: 'no-store',
          signal,
        });
        const body = response.body;
        if (
          response.status !== 200 ||
          !body ||
          !/^text\/event-stream/i.test(response.headers.get('content-type') ?? '')
        ) {
          void body?.cancel().catch(() => {});
          return fail(`HTTP ${response.status}`);
        }
        failures = 0;
        connection(0);
        const reader = body.getReader();
        // As after EventSource.close(): nothing more is dispatched, not even the rest of this chunk.
        const push = sseParser(state, (name, data) => signal.aborted || onEvent(name, data));
        for (let read = await reader.read(); !read.done; read = await reader.read()) push(read.value);
      } catch {
        // A network error, or the connection cut mid-stream: reconnect, as EventSource does.
      }
      if (signal.aborted) return;
      connection(++failures);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, state.retry);
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  };
  void run();
  return () => {
    abort.abort();
    wake();
  };
}

/**
 * A `text/event-stream` parser fed with bytes as they come (WHATWG HTML §9.2.6): UTF-8 decoded
 * across chunk boundaries, a leading BOM dropped, lines ending in CRLF, LF or CR (a CRLF may be
 * cut between two chunks), `:` comments skipped, `data:` lines joined with LF, `event:`, `id:`
 * (ignored if it holds a NUL) and `retry:` (digits only). An event is dispatched at a blank line;
 * one cut off by the end of the stream never is. One parser per connection, over one `state`.
 */
export function sseParser(
  state: StreamState,
  onEvent: (name: string, data: string) => void,
): (chunk: Uint8Array) => void {
  // TextDecoder keeps a character cut between chunks, and drops the BOM (ignoreBOM is false).
  const decoder = new TextDecoder();
  let buffer = '';
  let afterCR = false;
  let data = '';
  let name = '';
  // The spec starts each connection's id buffer empty; like Chromium, start from the last id, so
  // a blank line before the first `id:` of a new connection cannot forget where to resume.
  let id = state.lastEventId;
  const line = (text: string) => {
    if (!text) {
      state.lastEventId = id;
      if (data) onEvent(name || 'message', data.slice(0, -1));
      data = name = '';
      return;
    }
    const colon = text.indexOf(':');
    if (colon === 0) return;
    const field = colon < 0 ? text : text.slice(0, colon);
    const value = colon < 0 ? '' : text.slice(colon + (text[colon + 1] === ' ' ? 2 : 1));
    if (field === 'data') data += `${value}\n`;
    else if (field === 'event') name = value;
    else if (field === 'id' && !value.includes('\0')) id = value;
    else if (field === 'retry' && /^\d+$/.test(value)) state.retry = Number(value);
  };
  return (chunk) => {
    const text = decoder.decode(chunk, { stream: true });
    if (!text) return;
    // The LF of a CRLF whose CR ended the previous chunk ends no second line.
    buffer += afterCR && text[0] === '\n' ? text.slice(1) : text;
    afterCR = text.endsWith('\r');
    const eol = /\r\n|\r|\n/g;
    let start = 0;
    for (let match = eol.exec(buffer); match; match = eol.exec(buffer)) {
      line(buffer.slice(start, match.index));
      start = eol.lastIndex;
    }
    buffer = buffer.slice(start);
  };
}
