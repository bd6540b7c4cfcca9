// Loaded first (`node --import`), under whatever Node the user has: the service runs its
// TypeScript sources as they are, which needs Node's type stripping (22.18 and later).
const [major, minor] = process.versions.node.split('.').map(Number)
if (major < 22 || (major === 22 && minor < 19)) {
  console.error(`flashsale needs Node.js 22.19 or later (24 LTS recommended), not ${process.version}: ` +
    'install Node 24 (https://nodejs.org/en/download, or `npx -y -p node@24 npm start` to try it)')
  process.exit(1)
}
