// Builds the browser code once before the test run (skipped when web/ has not changed since the last build), so
// browser tests and the web routes' tests meet the same dist/web that `npm start` serves.

import { buildWeb } from '../../web/build.ts';

export default async function setup(): Promise<void> {
  const report = await buildWeb({ ifStale: true });
  if (!report.skipped) {
    console.log(`[web] built: widget.js ${(report.widgetGzipBytes / 1024).toFixed(1)} KB gzipped`);
  }
}
