"use server";
// Server actions: they run on the server (Node.js runtime) and write to
// keepkv over RESP with ioredis.
import { cookies } from "next/headers";
import { redirect } from "next/navigation";
import { COOKIE_MAX_AGE, COOKIE_NAME, USER_NAME, cookieSecure } from "../lib/config.js";
import {
  createSession,
  destroyAllSessions,
  destroySession,
  readSession,
} from "../lib/store.js";

// login: a demo without passwords; a real app checks credentials here.
export async function login(formData) {
  const user = String(formData.get("user") ?? "").trim();
  if (!USER_NAME.test(user)) redirect("/login?error=name");
  const id = await createSession(user);
  (await cookies()).set(COOKIE_NAME, id, {
    httpOnly: true,
    sameSite: "lax",
    secure: cookieSecure(),
    path: "/",
    maxAge: COOKIE_MAX_AGE,
  });
  redirect("/dashboard");
}

export async function logout() {
  const jar = await cookies();
  await destroySession(jar.get(COOKIE_NAME)?.value);
  jar.delete(COOKIE_NAME);
  redirect("/login");
}

export async function logoutEverywhere() {
  const jar = await cookies();
  const session = await readSession(jar.get(COOKIE_NAME)?.value);
  if (session) await destroyAllSessions(session.user);
  jar.delete(COOKIE_NAME);
  redirect("/login");
}
