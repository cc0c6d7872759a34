/**
 * The dashboard (ui/, built into ui/dist by scripts/prepare.mjs): `GET /` and `/ui/...`. Its few files
 * are read into memory once (about 50 KB), so serving them costs no disk access and no file-path handling.
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, extname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import type { Middleware } from 'koa';

/** Where the built dashboard lives in the package (this file runs from dist/src/api/). */
export const UI_DIST = resolve(dirname(fileURLToPath(import.meta.url)), '../../../ui/dist');

/**
 * Pages load only this origin's scripts and styles, nothing inline, and no other site may frame them
 * (clickjacking the run and pause buttons). `connect-src 'self'` covers fetch and the event stream.
 */
export const UI_CSP = "default-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'; object-src 'none'";

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json',
};

interface Asset {
  body: Buffer;
  /** Worth sending gzipped (text over 1 KiB). */
  compressible: boolean;
  /** The gzipped body, made at the first request that accepts it: compressing at level 9 at start was ~10 ms of it. */
  gzip?: Buffer;
  type: string;
  etag: string;
}

/** The built files by URL path (`/ui/assets/index-abc123.js`), or null when the dashboard was not built. */
export function loadUiAssets(dir = UI_DIST): Map<string, Asset> | null {
  let names: string[];
  try {
    if (!statSync(join(dir, 'index.html')).isFile()) return null;
    names = listFiles(dir);
  } catch {
    return null;
  }
  const assets = new Map<string, Asset>();
  for (const file of names) {
    const body = readFileSync(file);
    const type = TYPES[extname(file)] ?? 'application/octet-stream';
    assets.set(`/ui/${relative(dir, file).split(sep).join('/')}`, {
      body,
      compressible: /^(text\/|image\/svg|application\/json)/.test(type) && body.length > 1024,
      type,
      etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"`,
    });
  }
  return assets;
}

function listFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((d) => (d.isDirectory() ? listFiles(join(dir, d.name)) : d.isFile() ? [join(dir, d.name)] : []));
}

/**
 * Middleware for `/` and `/ui/...`: the built files, and index.html for the dashboard's own paths
 * (`/ui/jobs/backup`), which the page routes itself. Anything else goes on to the API.
 */
export function serveUi(assets: Map<string, Asset> | null): Middleware {
  return (ctx, next) => {
    const path = ctx.path;
    if (path !== '/' && path !== '/ui' && !path.startsWith('/ui/')) return next();
    if (ctx.method !== 'GET' && ctx.method !== 'HEAD') return next();
    ctx.set('Content-Security-Policy', UI_CSP);
    ctx.set('X-Frame-Options', 'DENY');
    ctx.set('Referrer-Policy', 'no-referrer');
    if (!assets) {
      ctx.status = 503;
      ctx.type = 'text/plain; charset=utf-8';
      ctx.body = 'The dashboard was not built: run `node scripts/prepare.mjs` (or `npm start`), which builds ui/ into ui/dist.\n';
      return Promise.resolve();
    }
    let asset = assets.get(path);
    // A page of the dashboard (no file extension): its shell. A missing asset stays a 404.
    if (!asset && !/\.[a-z0-9]+$/i.test(path)) asset = assets.get('/ui/index.html');
    if (!asset) return next();
    // Hashed names never change content: cached for good. The shell, like every other answer, is not kept.
    ctx.set('Cache-Control', path.startsWith('/ui/assets/') ? 'public, max-age=31536000, immutable' : 'no-store');
    ctx.set('ETag', asset.etag);
    ctx.set('Vary', 'Accept-Encoding');
    ctx.type = asset.type;
    if (ctx.get('if-none-match') === asset.etag) {
      ctx.status = 304;
      return Promise.resolve();
    }
    if (asset.compressible && /\bgzip\b/.test(ctx.get('accept-encoding'))) {
      ctx.set('Content-Encoding', 'gzip');
      ctx.body = asset.gzip ??= gzipSync(asset.body, { level: 9 });
    } else ctx.body = asset.body;
    return Promise.resolve();
  };
}
