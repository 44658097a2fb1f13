import { redirect } from "next/navigation";

// The proxy has already sent visitors without a session to /login.
export default function Home() {
  redirect("/dashboard");
}
