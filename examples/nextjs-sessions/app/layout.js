import "./globals.css";

export const metadata = {
  title: "keepkv sessions",
  description: "Next.js sessions stored in keepkv",
};

export default function RootLayout({ children }) {
  return (
    <html lang="en">
      <body>
        <main>{children}</main>
      </body>
    </html>
  );
}
