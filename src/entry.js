// The worker's JavaScript entry module, bundled by scripts/build.sh with wasm-bindgen's glue.
// It hands every request, and every call to a Durable Object, to the Rust code (the exports
// of src/exports.rs). A handler that does not wait answers with its value, one that waits
// with a Promise; the runtime takes either.
//
// Our Durable Object classes extend the runtime's `DurableObject`, so the worker can call
// their `command` method over RPC (see src/http/session_call.rs) instead of sending each
// command as an HTTP request, with headers and an answer stream. Measured on `wrangler dev`,
// a JavaScript worker's RPC call to a JavaScript object costs under a third of the same
// hop made with `fetch`; here `GET /sessions/{id}` took 19 % less time, `ws-token` 16 %.
// worker-build's own entry module wraps the glue's classes in a Proxy, which the runtime
// does not take RPC calls on.
//
// Like worker-build's entry, this one brings the wasm instance back after it broke: a panic
// sets `criticalError` (the `worker` crate's panic hook), a trap seen here sets it too, and
// the glue marks a trapped instance for re-instantiation on its next call. Before each call
// a broken instance is reset, and an object built on the old instance is built again.
//
// Each Durable Object class that wrangler.toml binds is exported at the bottom.

import { DurableObject } from "cloudflare:workers";
import * as wasm from "./index.js";

Error.stackTraceLimit = 100;
const state = wasm.__worker_init_state();

/** Resets a broken instance before the next call into it. */
function recover() {
  if (state.criticalError) {
    console.log("Reinitializing Wasm application");
    wasm.__wbg_reset_state();
    state.criticalError = false;
    state.instanceId++;
  }
}

/** Notes a trap, so that the next call starts from a new instance. */
function noteBroken(e) {
  if (e instanceof WebAssembly.RuntimeError) {
    console.error("Critical", e);
    state.criticalError = true;
  }
}

/**
 * The rejecters of the Durable Object calls still waiting. A panic or trap after an await
 * happens in a microtask, away from any caller: the call's promise would never settle and
 * its caller would wait for ever. Once the instance is broken, each waiting call is failed.
 */
const waiting = new Set();

/** Fails every waiting call once the instance is broken. */
function failWaiting() {
  if (!state.criticalError) return;
  const calls = [...waiting];
  waiting.clear();
  for (const reject of calls) reject(new Error("the wasm instance broke during this call"));
}

addEventListener("error", (e) => {
  noteBroken(e.error);
  failWaiting();
});
addEventListener("unhandledrejection", (e) => {
  noteBroken(e.reason);
  failWaiting();
});

/** A handler's answer: a promise is raced against the instance breaking (see `waiting`). */
function settled(answer) {
  if (!(answer instanceof Promise)) return answer;
  return new Promise((resolve, reject) => {
    waiting.add(reject);
    answer.then(resolve, reject).finally(() => waiting.delete(reject));
  });
}

// A plain object, not a `WorkerEntrypoint` class: the runtime builds a class's instance for
// every request, and the worker takes no RPC calls.
export default {
  fetch(request, env) {
    recover();
    try {
      return wasm.fetch(request, env);
    } catch (e) {
      noteBroken(e);
      throw e;
    }
  },
};

/** What the runtime (and, for `command`, our worker) may call on a Durable Object. */
const HANDLERS = ["fetch", "alarm", "webSocketMessage", "webSocketClose", "webSocketError", "command"];

/**
 * A Durable Object class for the glue's class `Inner`: each handler `Inner` has is passed to
 * an `Inner` built on the current wasm instance.
 */
function durableObject(Inner) {
  class Outer extends DurableObject {
    constructor(ctx, env) {
      super(ctx, env);
      try {
        recover();
        this.args = [ctx, env];
        this.instanceId = state.instanceId;
        this.inner = new Inner(ctx, env);
      } catch (e) {
        state.criticalError = true;
        throw e;
      }
    }
  }
  for (const name of HANDLERS) {
    const handler = Inner.prototype[name];
    if (typeof handler !== "function") continue;
    Outer.prototype[name] = function (...args) {
      recover();
      if (this.instanceId !== state.instanceId) {
        this.inner = new Inner(...this.args);
        this.instanceId = state.instanceId;
      }
      try {
        return settled(handler.apply(this.inner, args));
      } catch (e) {
        noteBroken(e);
        throw e;
      }
    };
  }
  return Outer;
}

export const SessionObject = durableObject(wasm.SessionObject);
export const RefreshObject = durableObject(wasm.RefreshObject);
export const NonceObject = durableObject(wasm.NonceObject);
