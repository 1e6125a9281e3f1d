// docs/collector.md's Collector configuration: every YAML block parses, and the full
// configuration is one a Collector would start — each pipeline names only receivers, processors
// and exporters the file defines, used extensions are defined, and burnwatch's exporter sends
// the gateway's key.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { ROOT } from './lib/processes.ts';

type Section = Record<string, unknown>;
interface CollectorConfig {
  receivers?: Section;
  processors?: Section;
  exporters?: Section;
  extensions?: Section;
  service?: { extensions?: string[]; pipelines?: Record<string, { receivers?: string[]; processors?: string[]; exporters?: string[] }> };
}

function yamlBlocks(markdown: string): string[] {
  // Blocks may be indented under a list item: strip the fence's own indentation from each line.
  return [...markdown.matchAll(/^( *)```yaml\n([\s\S]*?)^\1```$/gm)].map(([, indent, body]) =>
    body.split('\n').map((l) => (l.startsWith(indent) ? l.slice(indent.length) : l)).join('\n'),
  );
}

test('docs/collector.md: the YAML parses and the full configuration is consistent', () => {
  const blocks = yamlBlocks(fs.readFileSync(path.join(ROOT, 'docs/collector.md'), 'utf8'));
  assert.ok(blocks.length >= 2, `found ${blocks.length} yaml blocks`);
  const configs = blocks.map((b, i) => {
    try {
      return parse(b, { strict: true, uniqueKeys: true }) as CollectorConfig;
    } catch (err) {
      throw new Error(`yaml block ${i + 1} does not parse: ${(err as Error).message}`);
    }
  });
  const full = configs.filter((c) => c.receivers && c.exporters && c.service?.pipelines);
  assert.equal(full.length, 1, 'one complete configuration');
  const [config] = full;

  for (const [name, pipeline] of Object.entries(config.service!.pipelines!)) {
    for (const kind of ['receivers', 'processors', 'exporters'] as const) {
      for (const id of pipeline[kind] ?? []) assert.ok(config[kind] && id in config[kind]!, `pipeline ${name}: ${kind.slice(0, -1)} ${id} is not defined`);
    }
    assert.ok((pipeline.receivers ?? []).length > 0 && (pipeline.exporters ?? []).length > 0, `pipeline ${name} has receivers and exporters`);
  }
  for (const id of config.service!.extensions ?? []) assert.ok(config.extensions && id in config.extensions, `extension ${id} is not defined`);

  // Fans out: the metrics pipeline goes to burnwatch and to another backend.
  const metrics = config.service!.pipelines!.metrics;
  assert.ok(metrics.exporters!.includes('otlphttp/burnwatch') && metrics.exporters!.length >= 2, 'metrics fan out to burnwatch and another backend');
  const burnwatch = config.exporters!['otlphttp/burnwatch'] as { endpoint: string; headers: Record<string, string>; sending_queue?: { storage?: string } };
  assert.match(burnwatch.endpoint, /^https?:\/\/[^/]+(:\d+)?$/, 'a base URL: the exporter appends /v1/metrics');
  assert.match(burnwatch.headers.Authorization, /^Bearer \$\{env:\w+\}$/);
  if (burnwatch.sending_queue?.storage) assert.ok(config.extensions && burnwatch.sending_queue.storage in config.extensions);
  // The otlp receiver listens for OTLP/HTTP, where the agent's --endpoint points.
  const otlp = config.receivers!.otlp as { protocols: { http: { endpoint: string } } };
  assert.match(otlp.protocols.http.endpoint, /:4318$/);
});
