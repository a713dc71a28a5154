// The runtime floor for the benchmark: a worker that does nothing but answer. On a
// WebSocket upgrade it accepts, and answers every message with `{"type":"subscribed"}`.
// `/object` answers with what a Durable Object that does nothing either answers to an RPC
// call: the runtime's own cost of the one hop to a session that most of our routes make
// (they call the session's `command` method over RPC).
import { DurableObject } from "cloudflare:workers";

const JSON_HEADERS = { "content-type": "application/json" };

export class Echo extends DurableObject {
  async command() {
    return '{"status":"healthy"}';
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
      const text = await env.ECHO.get(env.ECHO.idFromName("echo")).command("{}");
      return new Response(text, { headers: JSON_HEADERS });
    }
    return new Response('{"status":"healthy"}', { headers: JSON_HEADERS });
  },
};
