import { readFileSync } from 'node:fs';

/**
 * The dashboard's script and style sheet: files beside this module in the
 * source tree (src/http/ui/assets), copied next to the bundle by the build
 * (dist/assets). Read once, on first use.
 */
const ASSETS: Record<string, string> = {
  'app.js': 'text/javascript; charset=utf-8',
  'app.css': 'text/css; charset=utf-8',
  'icon.svg': 'image/svg+xml',
};

const loaded = new Map<string, string>();

export function staticAsset(name: string): { body: string; contentType: string } | undefined {
  const contentType = ASSETS[name];
  if (contentType === undefined) return undefined;
  let body = loaded.get(name);
  if (body === undefined) {
    body = readFileSync(new URL(`./assets/${name}`, import.meta.url), 'utf8');
    loaded.set(name, body);
  }
  return { body, contentType };
}
