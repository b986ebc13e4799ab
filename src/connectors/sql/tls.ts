// TLS params to Node's tls options: PEM text is used as is, anything else is a file relative to the config dir.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { ConnectionOptions } from 'node:tls';
import type { TlsParam } from './params.js';

function pem(value: string, configDir: string): string {
  return value.includes('-----BEGIN') ? value : readFileSync(path.resolve(configDir, value), 'utf8');
}

export function tlsOptions(tls: TlsParam | undefined, configDir: string): ConnectionOptions | undefined {
  if (tls === undefined || tls === false) return undefined;
  if (tls === true) return {};
  const out: ConnectionOptions = {};
  if (tls.ca !== undefined) out.ca = pem(tls.ca, configDir);
  if (tls.cert !== undefined) out.cert = pem(tls.cert, configDir);
  if (tls.key !== undefined) out.key = pem(tls.key, configDir);
  if (tls.reject_unauthorized !== undefined) out.rejectUnauthorized = tls.reject_unauthorized;
  return out;
}

/** host:port of the first address, with a default port; one server per connector. */
export function hostPort(addrs: readonly string[], defaultPort: number): { host: string; port: number } {
  const first = addrs[0] ?? `127.0.0.1:${defaultPort}`;
  const i = first.lastIndexOf(':');
  if (i < 0 || first.endsWith(']')) return { host: first.replace(/^\[|\]$/g, ''), port: defaultPort };
  return { host: first.slice(0, i).replace(/^\[|\]$/g, ''), port: Number(first.slice(i + 1)) || defaultPort };
}
