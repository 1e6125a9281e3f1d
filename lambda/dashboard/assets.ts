// The dashboard's built files, as the gateway serves them. `npm run build` (scripts/setup) runs
// build.ts, which writes them into dist/assets.js as one module: imported rather than read
// from disk, so the Lambda bundle (esbuild, one file) carries them too and no run-time path
// has to be guessed on either side.

export interface DashboardAsset {
  type: string;
  body: Uint8Array<ArrayBuffer>;
  gzip: Uint8Array<ArrayBuffer>;
  etag: string;
}

interface BuiltAsset {
  type: string;
  /** base64 */
  body: string;
  gzip: string;
  etag: string;
}

let loaded: Promise<Map<string, DashboardAsset>> | undefined;

async function load(): Promise<Map<string, DashboardAsset>> {
  let built: Record<string, BuiltAsset>;
  try {
    built = (await import('./dist/assets.js')).ASSETS as Record<string, BuiltAsset>;
  } catch {
    // Not built: every asset is absent, and the 404 says how to build them.
    return new Map();
  }
  return new Map(
    Object.entries(built).map(([name, a]) => [name, { type: a.type, etag: a.etag, body: new Uint8Array(Buffer.from(a.body, 'base64')), gzip: new Uint8Array(Buffer.from(a.gzip, 'base64')) }]),
  );
}

export async function dashboardAsset(name: string): Promise<DashboardAsset | undefined> {
  const all = await (loaded ??= load());
  return all.get(name);
}

/** Whether the assets were built (a gateway without them still serves the API). */
export async function dashboardBuilt(): Promise<boolean> {
  return (await (loaded ??= load())).size > 0;
}
