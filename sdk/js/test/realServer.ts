// Start the real Python server (`pchat serve`) as a child process for the functional tests.
//
// The binary is $PCHAT_BIN, by default ../../.venv/bin/pchat relative to sdk/js. Each server
// gets a temporary data directory, an API key made with `pchat keys create --json`, and a
// free port; `stop()` kills it and removes the directory.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const PACKAGE_DIR = fileURLToPath(new URL('..', import.meta.url));
export const PCHAT_BIN = process.env.PCHAT_BIN
  ? resolve(PACKAGE_DIR, process.env.PCHAT_BIN)
  : resolve(PACKAGE_DIR, '../../.venv/bin/pchat');

function freePort(): Promise<number> {
  return new Promise((done, fail) => {
    const srv = createServer();
    srv.once('error', fail);
    srv.listen(0, '127.0.0.1', () => {
      const address = srv.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      srv.close(() => done(port));
    });
  });
}

export class RealServer {
  private output = '';

  private constructor(
    readonly url: string,
    private readonly process: ChildProcess,
    private readonly dataDir: string,
    private readonly apiKey: string,
    private readonly apiSecret: string,
    private readonly env: NodeJS.ProcessEnv,
  ) {
    process.stdout?.on('data', (d: Buffer) => (this.output += d.toString()));
    process.stderr?.on('data', (d: Buffer) => (this.output += d.toString()));
  }

  /** Start a server; `env` adds PCHAT_* settings (e.g. PCHAT_TOKEN_TTL). */
  static async start(env: Record<string, string> = {}): Promise<RealServer> {
    const dataDir = await mkdtemp(join(tmpdir(), 'pchatsdk-js-'));
    // A stop closes every client at once (the drain's spread is the server's own tests'
    // business): the SDK's reconnects across a restart are what these tests watch.
    const childEnv = {
      ...process.env,
      PCHAT_DRAIN_READY_DELAY: '0',
      PCHAT_DRAIN_WINDOW: '0',
      ...env,
    };
    const { stdout } = await promisify(execFile)(
      PCHAT_BIN,
      ['keys', 'create', '--json', '--data-dir', dataDir],
      { env: childEnv },
    );
    const keys = JSON.parse(stdout) as { api_key: string; api_secret: string };
    const port = await freePort();
    const child = spawn(
      PCHAT_BIN,
      ['serve', '--host', '127.0.0.1', '--port', String(port), '--data-dir', dataDir],
      { env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const server = new RealServer(
      `http://127.0.0.1:${port}`, child, dataDir, keys.api_key, keys.api_secret, childEnv,
    );
    await server.waitHealthy();
    return server;
  }

  private async waitHealthy(timeout = 20_000): Promise<void> {
    const start = Date.now();
    for (;;) {
      if (this.process.exitCode !== null) {
        throw new Error(`pchat serve exited with ${this.process.exitCode}:\n${this.output}`);
      }
      try {
        const response = await fetch(`${this.url}/healthz`);
        if (response.ok) return;
      } catch {
        // not listening yet
      }
      if (Date.now() - start > timeout) throw new Error(`pchat serve not healthy:\n${this.output}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** A token from the token service for `sub` (and `role`). */
  async token(sub: string, role?: string): Promise<string> {
    const query = new URLSearchParams({ sub });
    if (role) query.set('role', role);
    const response = await fetch(`${this.url}/public-chat/token/?${query}`, {
      headers: { 'auth-api-key': this.apiKey, 'auth-api-secret': this.apiSecret },
    });
    if (!response.ok) throw new Error(`token service answered ${response.status}`);
    return ((await response.json()) as { token: string }).token;
  }

  /** Raw token-service call, for checking its error answers. */
  tokenResponse(query: string, headers: Record<string, string>): Promise<Response> {
    return fetch(`${this.url}/public-chat/token/?${query}`, { headers });
  }

  get credentials(): { key: string; secret: string } {
    return { key: this.apiKey, secret: this.apiSecret };
  }

  async stop(): Promise<void> {
    if (this.process.exitCode === null && this.process.signalCode === null) {
      const exited = new Promise((r) => this.process.once('exit', r));
      this.process.kill('SIGTERM');
      const timer = setTimeout(() => this.process.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
    }
    await rm(this.dataDir, { recursive: true, force: true });
  }

  /**
   * Stop the process but keep the data directory, then start again on the same port;
   * `whileDown` runs between the two.
   */
  async restart(whileDown?: () => Promise<void>): Promise<RealServer> {
    const exited = new Promise((r) => this.process.once('exit', r));
    this.process.kill('SIGTERM');
    await exited;
    await whileDown?.();
    const port = new URL(this.url).port;
    const child = spawn(
      PCHAT_BIN,
      ['serve', '--host', '127.0.0.1', '--port', port, '--data-dir', this.dataDir],
      { env: this.env, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const server = new RealServer(this.url, child, this.dataDir, this.apiKey, this.apiSecret, this.env);
    await server.waitHealthy();
    return server;
  }

  get log(): string {
    return this.output;
  }
}
