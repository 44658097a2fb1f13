import { login } from "../actions.js";

export const metadata = { title: "Log in · keepkv sessions" };

export default async function LoginPage({ searchParams }) {
  const { error } = await searchParams;
  return (
    <>
      <h1>Log in</h1>
      <form action={login}>
        <label htmlFor="user">Name</label>
        <input id="user" name="user" autoComplete="username" required maxLength={64} />
        <button type="submit">Log in</button>
      </form>
      {error === "name" && (
        <p className="error" role="alert">
          Use 1–64 letters, digits, dots, dashes or underscores.
        </p>
      )}
    </>
  );
}
