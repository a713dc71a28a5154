// The runtime floor for the benchmark: a worker that does nothing but answer.
export default {
  async fetch() {
    return new Response('{"status":"healthy"}', {
      headers: { "content-type": "application/json" },
    });
  },
};
