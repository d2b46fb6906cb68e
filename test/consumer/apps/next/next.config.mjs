/** @type {import('next').NextConfig} */
const nextConfig = {
  // Loaded by Node from node_modules, not bundled: its worker, SQLite binding and sandbox need real files.
  serverExternalPackages: ['underway'],
};

export default nextConfig;
