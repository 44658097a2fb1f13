// Runs before every matched request: a request without a live session in
// keepkv is sent to /login. The session is read over HTTP (@upstash/redis).
import { NextResponse } from "next/server";
import { COOKIE_NAME } from "./lib/config.js";
import { lookupSession } from "./lib/edge.js";

export async function proxy(request) {
  const id = request.cookies.get(COOKIE_NAME)?.value;
  let session = null;
  if (id) {
    try {
      session = await lookupSession(id);
    } catch (err) {
      // The store is unreachable: say so rather than log the user out.
      console.error("session check failed:", err);
      return new NextResponse("Session store unavailable, try again.", {
        status: 503,
        headers: { "retry-after": "1" },
      });
    }
  }
  if (!session) {
    const login = new URL("/login", request.url);
    const res = NextResponse.redirect(login);
    if (id) res.cookies.delete(COOKIE_NAME);
    return res;
  }
  return NextResponse.next();
}

export const config = {
  matcher: ["/", "/dashboard/:path*"],
};
