// keepkv answers -CLUSTERDOWN when no leader was elected within
// --leader-wait, and -TRYAGAIN when a forwarded command's leader died
// mid-flight (outcome unknown). Both are transient during a failover. Every
// command this app sends is idempotent (fixed keys and values), so it
// retries them for a bounded time instead of failing the request.
const TRANSIENT = /\b(TRYAGAIN|CLUSTERDOWN|LOADING)\b/;

export async function retryTransient(fn, { timeoutMs = 10000 } = {}) {
  const deadline = Date.now() + timeoutMs;
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      if (!TRANSIENT.test(String(err?.message ?? "")) || Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, Math.min(50 * 2 ** attempt, 500)));
    }
  }
}
