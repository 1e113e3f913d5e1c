// Builds the browser SDK (../sdk/js) when its dist/ is missing or older than its sources.
// The demo depends on it by path ("pchatsdk": "file:../sdk/js"), and dist/ is not committed.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const sdk = resolve(here, '../../sdk/js');
const built = join(sdk, 'dist/index.js');
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';

/** @param {string} dir */
function newestSource(dir) {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestSource(path) : statSync(path).mtimeMs);
  }
  return newest;
}

const sources = Math.max(
  newestSource(join(sdk, 'src')),
  statSync(join(sdk, 'package.json')).mtimeMs,
  statSync(join(sdk, 'tsconfig.build.json')).mtimeMs,
);
if (existsSync(built) && statSync(built).mtimeMs >= sources && !process.argv.includes('--force')) {
  process.exit(0);
}
// A fresh checkout has no node_modules there; an existing one is the SDK developer's: left as is.
if (!existsSync(join(sdk, 'node_modules'))) {
  console.log(`building pchatsdk: npm ci in ${sdk}`);
  execFileSync(npm, ['ci', '--no-audit', '--no-fund'], { cwd: sdk, stdio: 'inherit' });
}
console.log(`building pchatsdk: npm run build in ${sdk}`);
execFileSync(npm, ['run', 'build'], { cwd: sdk, stdio: 'inherit' });
