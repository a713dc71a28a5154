// The runtime floor for the benchmark: a worker that does nothing but answer. On a
// WebSocket upgrade it accepts, and answers every message with `{"type":"subscribed"}`.
export default {
  async fetch(request) {
    if (request.headers.get("upgrade") === "websocket") {
      const [client, server] = Object.values(new WebSocketPair());
      server.accept();
      server.addEventListener("message", () => server.send('{"type":"subscribed"}'));
      return new Response(null, { status: 101, webSocket: client });
    }
    return new Response('{"status":"healthy"}', {
      headers: { "content-type": "application/json" },
    });
  },
};
