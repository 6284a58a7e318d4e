/** Reads a GraphQL-over-SSE stream, yielding each `next` payload. */
export async function* sseEvents(response: Response): AsyncGenerator<any> {
  const reader = response.body!.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += decoder.decode(value, { stream: true });
    let boundary: number;
    while ((boundary = buffer.indexOf('\n\n')) >= 0) {
      const block = buffer.slice(0, boundary);
      buffer = buffer.slice(boundary + 2);
      const data = block.split('\n').find((line) => line.startsWith('data:'));
      if (block.includes('event: next') && data) yield JSON.parse(data.slice(5));
    }
  }
}

/** Opens a GraphQL subscription over SSE on the daemon at `url`, as the admin (`token`). */
export const openSubscription = (url: string, token: string, query: string, variables: Record<string, unknown>, signal: AbortSignal) =>
  fetch(`${url}/graphql`, {
    method: 'POST',
    signal,
    headers: { 'content-type': 'application/json', accept: 'text/event-stream', authorization: `Bearer ${token}` },
    body: JSON.stringify({ query, variables }),
  });
