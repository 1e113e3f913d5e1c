// The seed-path test's stamp: one SHA-256 over what it tests (the SDK's sources and package
// manifest, and this project's files), written to ../last-pass.sha256 when the test passes.
//
//   node stamp.mjs check   exit 0 when nothing changed since the stamp, 1 otherwise
//   node stamp.mjs write   record the current hash (after a passing run; commit the file)
//
// `make test` runs the seed-path test only when `check` fails (see web/README.md).
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const app = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const root = resolve(app, '../..');
const stampFile = join(app, 'last-pass.sha256');

/** What the test depends on, relative to the repository's root. */
const INPUTS = [
  'sdk/js/src',
  'sdk/js/package.json',
  'sdk/js/tsconfig.build.json',
  'web/seed-path/.npmrc',
  'web/seed-path/package.json',
  'web/seed-path/package-lock.json',
  'web/seed-path/tsconfig.json',
  'web/seed-path/public',
  'web/seed-path/src',
  'web/seed-path/test',
];

/** @param {string} path @returns {string[]} every file under path (or path itself) */
function files(path) {
  if (!statSync(path).isDirectory()) return [path];
  return readdirSync(path)
    .filter((name) => name !== 'node_modules')
    .flatMap((name) => files(join(path, name)));
}

function currentHash() {
  const hash = createHash('sha256');
  const all = INPUTS.flatMap((input) => files(join(root, input)))
    .map((path) => relative(root, path).split('\\').join('/'))
    .sort();
  for (const path of all) {
    hash.update(`${path}\0`);
    hash.update(readFileSync(join(root, path)));
    hash.update('\0');
  }
  return hash.digest('hex');
}

const command = process.argv[2];
if (command === 'write') {
  writeFileSync(stampFile, `${currentHash()}\n`);
} else if (command === 'check') {
  const recorded = existsSync(stampFile) ? readFileSync(stampFile, 'utf8').trim() : '';
  if (recorded === currentHash()) {
    console.log('seed-path: sdk/js and web/seed-path unchanged since the test last passed');
    process.exit(0);
  }
  console.log('seed-path: sdk/js or web/seed-path changed since the test last passed');
  process.exit(1);
} else {
  console.error('usage: node stamp.mjs check|write');
  process.exit(2);
}
