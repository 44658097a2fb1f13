import { cookies } from "next/headers";
import { redirect } from "next/navigation";
import { COOKIE_NAME } from "../../lib/config.js";
import { readSession } from "../../lib/store.js";
import { logout, logoutEverywhere } from "../actions.js";

export const metadata = { title: "Dashboard · keepkv sessions" };

// A server component: it reads the session over RESP (ioredis). The proxy
// has checked it over HTTP already; a session that ended in between still
// sends the visitor to /login.
export default async function Dashboard() {
  const session = await readSession((await cookies()).get(COOKIE_NAME)?.value);
  if (!session) redirect("/login");
  return (
    <>
      <h1>
        Signed in as <span data-testid="user">{session.user}</span>
      </h1>
      <dl>
        <dt>Session started</dt>
        <dd>{session.createdAt}</dd>
        <dt>Expires in</dt>
        <dd data-testid="ttl">{session.ttl} s</dd>
        <dt>Your sessions</dt>
        <dd data-testid="sessions">{session.sessions}</dd>
      </dl>
      <div className="actions">
        <form action={logout}>
          <button type="submit">Log out</button>
        </form>
        <form action={logoutEverywhere}>
          <button type="submit">Log out everywhere</button>
        </form>
      </div>
    </>
  );
}
