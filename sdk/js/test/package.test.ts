// The seed's import line, unchanged: `import { PChatSDK, Events } from '@sscale/pchatsdk'`.
// Packs this package (`npm pack`, as a release would), installs the .tgz into a temporary
// project under the seed's name (`"@sscale/pchatsdk": "file:…/pchatsdk-x.y.z.tgz"`, the
// alias install sdk/js/README.md documents), then imports it from a plain `.mjs` script
// and type-checks a TypeScript file holding the seed's snippets with `tsc` under each
// module resolution an application may use. Offline: the SDK has no runtime dependencies.
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const PACKAGE_DIR = fileURLToPath(new URL('..', import.meta.url));
const TSC = join(PACKAGE_DIR, 'node_modules/typescript/bin/tsc');
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';

let tmp: string;
let app: string;
let tarball: string;

// The tutorial's "Basic setup" snippets verbatim, and a use of each object's fields.
const SEED_TS = `import { PChatSDK } from '@sscale/pchatsdk';
import type { Message, Poll } from '@sscale/pchatsdk';

const pchatSDK = new PChatSDK();

import { Events } from '@sscale/pchatsdk';

pchatSDK.on(Events.ERROR, (e) => {});
pchatSDK.on(Events.CONNECT, () => {});
pchatSDK.on(Events.MESSAGE, (message) => {});

declare const JWT_ACCESS_TOKEN: string;
pchatSDK.connect('room_id', 'username', JWT_ACCESS_TOKEN)
        .then(() => {})
        .catch(e => {});
pchatSDK.loadHistory()
        .then(() => {})
        .catch(e => {});
pchatSDK.messages.forEach((message) => {});
pchatSDK.sendMessage('text')
        .then(() => {})
        .catch(e => {});

export const deletedBy = (m: Message): string | undefined => m.deletedBy?.username;
export const myVote = (p: Poll): number | null | undefined => p.myVote;
`;

const SEED_MJS = `import { PChatSDK, Events } from '@sscale/pchatsdk';

const pchatSDK = new PChatSDK({ url: 'http://127.0.0.1:1' });
pchatSDK.on(Events.MESSAGE, (message) => {});
console.log(JSON.stringify({ state: pchatSDK.state, message: Events.MESSAGE, ws: pchatSDK.wsUrl }));
`;

/** A tsconfig for one module resolution; strict, as the tutorial's template is. */
function tsconfig(module: string, moduleResolution: string, files: string[]): string {
  return JSON.stringify({
    compilerOptions: {
      target: 'ES2022',
      lib: ['ES2022', 'DOM'],
      module,
      moduleResolution,
      strict: true,
      noEmit: true,
      types: [],
      skipLibCheck: false,
    },
    files,
  });
}

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'pchatsdk-alias-'));
  // `prepack` builds dist/ first: the tarball is what a release would publish.
  const { stdout } = await run(npm, ['pack', '--json', '--pack-destination', tmp], {
    cwd: PACKAGE_DIR,
  });
  const [packed] = JSON.parse(stdout) as { filename: string }[];
  tarball = join(tmp, packed?.filename ?? '');
  app = join(tmp, 'app');
  await mkdir(app);
  await writeFile(
    join(app, 'package.json'),
    JSON.stringify({
      name: 'seed-app',
      private: true,
      type: 'module',
      dependencies: { '@sscale/pchatsdk': `file:${tarball}` },
    }),
  );
  await run(npm, ['install', '--no-audit', '--no-fund', '--offline'], { cwd: app });
}, 120_000);

afterAll(async () => {
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

describe("the seed's import under the alias @sscale/pchatsdk", () => {
  it('installs the packed SDK under that name', async () => {
    const installed = JSON.parse(
      await readFile(join(app, 'node_modules/@sscale/pchatsdk/package.json'), 'utf8'),
    ) as { name: string; exports: unknown; types: string };
    expect(installed.name).toBe('pchatsdk');
    const lock = JSON.parse(await readFile(join(app, 'package-lock.json'), 'utf8')) as {
      packages: Record<string, { resolved?: string }>;
    };
    expect(lock.packages['node_modules/@sscale/pchatsdk']?.resolved).toMatch(/\.tgz$/);
  });

  it('imports { PChatSDK, Events } in an ES module run by node', async () => {
    await writeFile(join(app, 'seed.mjs'), SEED_MJS);
    const { stdout } = await run(process.execPath, ['seed.mjs'], { cwd: app });
    expect(JSON.parse(stdout)).toEqual({
      state: 'disconnected',
      message: 'message',
      ws: 'ws://127.0.0.1:1/public-chat/ws',
    });
  });

  it('imports it from CommonJS too (require of the ES module, Node >= 20.19)', async () => {
    const script = `const { PChatSDK, Events } = require('@sscale/pchatsdk');
console.log(typeof PChatSDK, Events.CONNECT);`;
    await writeFile(join(app, 'seed.cjs'), script);
    const { stdout } = await run(process.execPath, ['seed.cjs'], { cwd: app });
    expect(stdout.trim()).toBe('function connect');
  });

  for (const [module, resolution] of [
    ['ESNext', 'bundler'],
    ['Node16', 'node16'],
    ['NodeNext', 'nodenext'],
    ['ESNext', 'node10'], // create-react-app's TypeScript template
  ] as const) {
    it(`type-checks the seed's snippets with moduleResolution ${resolution}`, async () => {
      await writeFile(join(app, 'seed.ts'), SEED_TS);
      const config = `tsconfig.${resolution}.json`;
      await writeFile(join(app, config), tsconfig(module, resolution, ['seed.ts']));
      const result = await run(process.execPath, [TSC, '-p', config], { cwd: app }).catch(
        (error: { stdout?: string; stderr?: string }) => ({
          stdout: `${error.stdout ?? ''}${error.stderr ?? ''}` || String(error),
        }),
      );
      expect(result.stdout).toBe('');
    });
  }
});
