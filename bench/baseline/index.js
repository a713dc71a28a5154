// The runtime floor for the benchmark: a worker that does nothing but answer. On a
// WebSocket upgrade it accepts, and answers every message with `{"type":"subscribed"}`.
// `/object` answers with what a Durable Object that does nothing either answers to an RPC
// call: the runtime's own cost of the one hop to a session that most of our routes make
// (they call the session's `command` method over RPC). A WebSocket to `/fan` goes to that
// object, which relays what a "sandbox" socket sends to every "client" socket.
import { DurableObject } from "cloudflare:workers";

const JSON_HEADERS = { "content-type": "application/json" };

export class Echo extends DurableObject {
  async command() {
    return '{"status":"healthy"}';
  }

  // `/fan?role=client|sandbox`: what the sandbox sends goes to every client as a
  // `sandbox_event`, stored nowhere: the runtime's own cost of the fan-out.
  fetch(request) {
    const role = new URL(request.url).searchParams.get("role") === "sandbox" ? "sandbox" : "client";
    const [client, server] = Object.values(new WebSocketPair());
    this.ctx.acceptWebSocket(server, [role]);
    return new Response(null, { status: 101, webSocket: client });
  }

  webSocketMessage(ws, message) {
    if (!this.ctx.getTags(ws).includes("sandbox")) return;
    const frame = `{"type":"sandbox_event","event":${message}}`;
    for (const client of this.ctx.getWebSockets("client")) client.send(frame);
  }

  webSocketClose(ws, code) {
    ws.close(code === 1005 || code === 1006 ? 1000 : code, "closed");
  }
}

export default {
  async fetch(request, env) {
    if (request.headers.get("upgrade") === "websocket") {
      if (new URL(request.url).pathname === "/fan") {
        return env.ECHO.get(env.ECHO.idFromName("fan")).fetch(request);
      }
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
