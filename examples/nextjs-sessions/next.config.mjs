/** @type {import('next').NextConfig} */
const nextConfig = {
  // ioredis opens TCP sockets: keep it a plain Node.js require on the server
  // instead of bundling it.
  serverExternalPackages: ["ioredis"],
};

export default nextConfig;
