/**
 * Debian's nginx as a reverse proxy for tests, run as this user on a free port
 * with the README's example configuration (the one operators copy), so the
 * example is what gets tested. Only the addresses, the certificate files and
 * the process's own files (pid, logs, temp dirs) are filled in.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { REPO } from './coordinator.ts';

export const NGINX = '/usr/sbin/nginx';

/** The ```nginx block under "Behind a reverse proxy" in README.md. */
export function readmeNginxExample(): string {
  const readme = readFileSync(join(REPO, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('### Behind a reverse proxy'));
  const m = /```nginx\n([\s\S]*?)```/.exec(section);
  if (!m) throw new Error('README.md has no ```nginx block under "### Behind a reverse proxy"');
  return m[1]!;
}

/** Replaces `from` exactly once: a README that drifted from what the test fills in fails here, by name. */
function fill(conf: string, from: RegExp, to: string): string {
  const hits = conf.match(new RegExp(from.source, `${from.flags.replace('g', '')}g`))?.length ?? 0;
  if (hits !== 1) throw new Error(`the README's nginx example should have ${from} once, has it ${hits} times`);
  return conf.replace(from, to);
}

/** A self-signed certificate for 127.0.0.1, made by openssl now. */
export function selfSignedCert(dir: string): { cert: string; key: string } {
  const cert = join(dir, 'cert.pem');
  const key = join(dir, 'key.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1',
    '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' });
  return { cert, key };
}

export interface RunningNginx {
  url: string;
  proc: ChildProcess;
  config: string;
  errorLog(): string;
  stop(): Promise<void>;
}

export async function startNginx(o: { dir: string; port: number; upstreams: [number, number]; cert: string; key: string }): Promise<RunningNginx> {
  if (!existsSync(NGINX)) throw new Error(`${NGINX} is missing: apt-get install -y nginx (.ci/run installs it)`);
  let site = readmeNginxExample();
  site = fill(site, /server 10\.0\.0\.11:8080;/, `server 127.0.0.1:${o.upstreams[0]};`);
  site = fill(site, /server 10\.0\.0\.12:8080;/, `server 127.0.0.1:${o.upstreams[1]};`);
  site = fill(site, /listen 443 ssl/, `listen 127.0.0.1:${o.port} ssl`);
  site = fill(site, /ssl_certificate +\S+;/, `ssl_certificate ${o.cert};`);
  site = fill(site, /ssl_certificate_key +\S+;/, `ssl_certificate_key ${o.key};`);
  const temp = join(o.dir, 'temp');
  mkdirSync(temp, { recursive: true });
  const errorLog = join(o.dir, 'error.log');
  const config = [
    // As root, nginx's workers would drop to `nobody`, who cannot read this private temp directory.
    process.getuid?.() === 0 ? 'user root;' : '',
    'worker_processes 1;',
    `pid ${join(o.dir, 'nginx.pid')};`,
    `error_log ${errorLog} info;`,
    'events { worker_connections 512; }',
    'http {',
    `  access_log ${join(o.dir, 'access.log')};`,
    ...['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((t) => `  ${t}_temp_path ${join(temp, t)};`),
    site,
    '}',
  ].join('\n');
  const file = join(o.dir, 'nginx.conf');
  writeFileSync(file, config);
  const proc = spawn(NGINX, ['-p', o.dir, '-c', file, '-e', errorLog, '-g', 'daemon off;'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  proc.stderr!.on('data', (c: Buffer) => { stderr += c.toString(); });
  const exited = new Promise<void>((r) => proc.on('exit', () => r()));
  const readLog = () => { try { return readFileSync(errorLog, 'utf8'); } catch { return ''; } };
  for (let t0 = Date.now(); ;) {
    if (proc.exitCode !== null) throw new Error(`nginx exited ${proc.exitCode}: ${stderr}${readLog()}\n--- config ---\n${config}`);
    if (await accepts(o.port)) break;
    if (Date.now() - t0 > 20_000) throw new Error(`nginx not listening on ${o.port} within 20 s: ${stderr}${readLog()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    url: `https://127.0.0.1:${o.port}`, proc, config, errorLog: readLog,
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) { proc.kill('SIGQUIT'); await exited; }
    },
  };
}

function accepts(port: number): Promise<boolean> {
  return new Promise((res) => {
    const s = connect(port, '127.0.0.1');
    s.once('connect', () => { s.destroy(); res(true); });
    s.once('error', () => res(false));
  });
}
