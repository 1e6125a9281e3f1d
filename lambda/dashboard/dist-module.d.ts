// Types of the module build.ts generates (dist/ is not committed, so tsc needs them here).
declare module '*/dist/assets.js' {
  export const ASSETS: Record<string, { type: string; body: string; gzip: string; etag: string }>;
}
