// The runtime floor for the benchmark: a worker that does nothing but answer. On a
// WebSocket upgrade it accepts, and answers every message with `{"type":"subscribed"}`.
// `/object` answers through a Durable Object that does nothing either: the runtime's own
// cost of the one hop to a session that most of our routes make.
import { DurableObject } from "cloudflare:workers";

const JSON_HEADERS = { "content-type": "application/json" };

export class Echo extends DurableObject {
  async fetch() {
    return new Response('{"status":"healthy"}', { headers: JSON_HEADERS });
  }
}

export default {
  async fetch(request, env) {
    if (request.headers.get("upgrade") === "websocket") {
      const [client, server] = Object.values(new WebSocketPair());
      server.accept();
      server.addEventListener("message", () => server.send('{"type":"subscribed"}'));
      return new Response(null, { status: 101, webSocket: client });
    }
    if (new URL(request.url).pathname === "/object") {
      return env.ECHO.get(env.ECHO.idFromName("echo")).fetch("https://echo/");
    }
    return new Response('{"status":"healthy"}', { headers: JSON_HEADERS });
  },
};
