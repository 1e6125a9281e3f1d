// SpanStore on DynamoDB (AWS): the slow-request spans POST /v1/traces receives, read back by
// GET /v1/slow and the hints engine exactly as the local DuckDbSpanStore serves them. Only slow
// requests arrive (a small volume), so one on-demand table with a TTL does; key (pk, sk):
//
//   T#<tenant>#<trace id>            <span id>                          one span (written once: conditional put)
//   R#["<tenant>","<service>"]       <start ns, 20 digits>#<trace>#<span>  a root server span of the service
//
// A read finds the roots of a service in a time range (newest first, one Query with a Limit)
// and then each root's trace (one Query per trace, a few at a time). Root entries are written
// after their spans and on every delivery (unconditional, so idempotent): a batch that failed
// halfway and is retried leaves no root without its trace and no stored trace without its root.
//
// Items expire `retentionDays` after the span started (attribute `expires_at`, the table's TTL).
// DynamoDB deletes expired items only within a few days and returns them until then, so reads
// drop them themselves.

import { ConditionalCheckFailedException, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, PutCommand, QueryCommand, type QueryCommandInput } from '@aws-sdk/lib-dynamodb';
import type { SpanKind, SpanQuery, SpanStore, SpanWriteResult, StoredSpan } from '../storage/spans.ts';

export const DEFAULT_SPAN_RETENTION_DAYS = 14;
/** The TTL attribute the table is configured with (infra/constructs/spans.ts). */
export const SPAN_TTL_ATTRIBUTE = 'expires_at';

// DynamoDB's documented limits: an item ≤ 400 KB, a partition key ≤ 2048 bytes, a sort key ≤ 1024 bytes.
const MAX_ITEM_BYTES = 400 * 1024;
const MAX_PK_BYTES = 2048;
/** Puts and trace reads in flight at once: enough to hide latency, few enough not to burst past on-demand capacity. */
const CONCURRENCY = 8;
const NS_PER_S = 1_000_000_000n;

export interface DynamoSpanStoreOptions {
  tableName: string;
  client?: DynamoDBDocumentClient;
  retentionDays?: number;
  /** Milliseconds since the epoch (tests inject it). */
  now?: () => number;
}

type SpanItem = {
  pk: string;
  sk: string;
  parent: string;
  service: string;
  name: string;
  kind: string;
  start_ns: string;
  end_ns: string;
  status: number;
  attributes: string;
  expires_at: number;
};

export class DynamoSpanStore implements SpanStore {
  private readonly db: DynamoDBDocumentClient;
  private readonly table: string;
  private readonly retentionS: bigint;
  private readonly now: () => number;

  constructor(opts: DynamoSpanStoreOptions) {
    this.table = opts.tableName;
    this.db = opts.client ?? DynamoDBDocumentClient.from(new DynamoDBClient({}));
    this.retentionS = BigInt(Math.round((opts.retentionDays ?? DEFAULT_SPAN_RETENTION_DAYS) * 86_400));
    this.now = opts.now ?? Date.now;
  }

  async write(tenant: string, spans: readonly StoredSpan[]): Promise<SpanWriteResult> {
    const refused: NonNullable<SpanWriteResult['refused']> = [];
    const accepted: { span: StoredSpan; item: SpanItem }[] = [];
    spans.forEach((span, index) => {
      const item = spanItem(tenant, span, this.expiresAt(span));
      const problem = itemProblem(item) ?? (isRoot(span) ? itemProblem(rootItem(tenant, span, item.expires_at)) : undefined);
      if (problem) refused.push({ index, reason: problem });
      else accepted.push({ span, item });
    });
    let inserted = 0;
    await eachBounded(accepted, async ({ item }) => {
      try {
        await this.db.send(new PutCommand({ TableName: this.table, Item: item, ConditionExpression: 'attribute_not_exists(pk)' }));
        inserted++;
      } catch (err) {
        if (!(err instanceof ConditionalCheckFailedException)) throw err; // stored before: the first copy stays
      }
    });
    const roots = accepted.filter(({ span }) => isRoot(span));
    await eachBounded(roots, ({ span, item }) => this.db.send(new PutCommand({ TableName: this.table, Item: rootItem(tenant, span, item.expires_at) })));
    return { inserted, duplicates: accepted.length - inserted, ...(refused.length > 0 ? { refused } : {}) };
  }

  async fetchTraces(q: SpanQuery): Promise<{ root: StoredSpan; spans: StoredSpan[] }[]> {
    const nowS = Math.floor(this.now() / 1000);
    const roots: { traceId: string; spanId: string }[] = [];
    const seen = new Set<string>();
    const [from, to] = [clampNs(q.fromNs), clampNs(q.toNs)];
    if (to <= from) return [];
    // sk BETWEEN "<from>" AND "<to>": "<from>#…" sorts after "<from>" and "<to>#…" after "<to>", so [from, to).
    const input: QueryCommandInput = {
      TableName: this.table,
      KeyConditionExpression: 'pk = :pk AND sk BETWEEN :from AND :to',
      ExpressionAttributeValues: { ':pk': rootPk(q.tenant, q.service), ':from': padNs(from), ':to': padNs(to) },
      ScanIndexForward: false,
    };
    for await (const item of this.items(input, () => q.limit - roots.length)) {
      if (Number(item.expires_at) <= nowS) continue;
      const [, traceId, spanId] = String(item.sk).split('#');
      if (seen.has(traceId)) continue;
      seen.add(traceId);
      roots.push({ traceId, spanId });
      if (roots.length >= q.limit) break;
    }
    const out: { root: StoredSpan; spans: StoredSpan[] }[] = [];
    await eachBounded(roots, async ({ traceId, spanId }) => {
      const spans: StoredSpan[] = [];
      const pk = tracePk(q.tenant, traceId);
      for await (const item of this.items({ TableName: this.table, KeyConditionExpression: 'pk = :pk', ExpressionAttributeValues: { ':pk': pk } })) {
        if (Number(item.expires_at) > nowS) spans.push(spanOf(traceId, item as SpanItem));
      }
      const root = spans.find((s) => s.spanId === spanId);
      if (root) out.push({ root, spans: spans.sort((a, b) => (a.startNs < b.startNs ? -1 : a.startNs > b.startNs ? 1 : 0)) });
    });
    return out.sort((a, b) => (a.root.startNs < b.root.startNs ? 1 : a.root.startNs > b.root.startNs ? -1 : 0));
  }

  async close(): Promise<void> {}

  private expiresAt(span: StoredSpan): number {
    return Number(span.startNs / NS_PER_S + this.retentionS);
  }

  /** Every item a Query matches, page after page; `limit` (re-read before each page) caps the next page. */
  private async *items(input: QueryCommandInput, limit?: () => number): AsyncGenerator<Record<string, unknown>> {
    let start: QueryCommandInput['ExclusiveStartKey'];
    do {
      const page = await this.db.send(new QueryCommand({ ...input, ExclusiveStartKey: start, ...(limit ? { Limit: Math.max(1, limit()) } : {}) }));
      yield* page.Items ?? [];
      start = page.LastEvaluatedKey;
    } while (start);
  }
}

const isRoot = (s: StoredSpan) => s.parentSpanId === '' && s.kind === 'server';
const tracePk = (tenant: string, traceId: string) => `T#${tenant}#${traceId}`;
// JSON keeps the key unambiguous whatever '#' a tenant or service name holds.
const rootPk = (tenant: string, service: string) => `R#${JSON.stringify([tenant, service])}`;
// Span times are unsigned 64-bit nanoseconds (OTLP fixed64): 20 digits hold any of them, so the
// strings sort as the numbers do; a query bound outside that range is clamped into it.
const U64_MAX = (1n << 64n) - 1n;
const padNs = (ns: bigint) => ns.toString().padStart(20, '0');
const clampNs = (ns: bigint) => (ns < 0n ? 0n : ns > U64_MAX ? U64_MAX : ns);

function spanItem(tenant: string, s: StoredSpan, expiresAt: number): SpanItem {
  return {
    pk: tracePk(tenant, s.traceId),
    sk: s.spanId,
    parent: s.parentSpanId,
    service: s.service,
    name: s.name,
    kind: s.kind,
    start_ns: s.startNs.toString(),
    end_ns: s.endNs.toString(),
    status: s.statusCode,
    attributes: JSON.stringify(s.attributes),
    [SPAN_TTL_ATTRIBUTE]: expiresAt,
  };
}

function rootItem(tenant: string, s: StoredSpan, expiresAt: number): Record<string, unknown> & { pk: string; sk: string } {
  return { pk: rootPk(tenant, s.service), sk: `${padNs(s.startNs)}#${s.traceId}#${s.spanId}`, [SPAN_TTL_ATTRIBUTE]: expiresAt };
}

function spanOf(traceId: string, item: SpanItem): StoredSpan {
  return {
    traceId,
    spanId: item.sk,
    parentSpanId: item.parent,
    service: item.service,
    name: item.name,
    kind: item.kind as SpanKind,
    startNs: BigInt(item.start_ns),
    endNs: BigInt(item.end_ns),
    statusCode: item.status,
    attributes: JSON.parse(item.attributes),
  };
}

/** Why DynamoDB would refuse the item for good (so retrying it is pointless), or undefined. */
function itemProblem(item: Record<string, unknown> & { pk: string }): string | undefined {
  const pkBytes = Buffer.byteLength(item.pk);
  if (pkBytes > MAX_PK_BYTES) return `tenant and service.name take ${pkBytes} bytes of the span store's key; at most ${MAX_PK_BYTES}`;
  let bytes = 0;
  // DynamoDB counts attribute names and values in UTF-8; a number takes at most 21 bytes.
  for (const [name, value] of Object.entries(item)) bytes += Buffer.byteLength(name) + (typeof value === 'string' ? Buffer.byteLength(value) : 21);
  if (bytes > MAX_ITEM_BYTES) return `the span takes ${bytes} bytes stored (attributes and names); DynamoDB keeps at most ${MAX_ITEM_BYTES} per span`;
  return undefined;
}

async function eachBounded<T>(items: readonly T[], fn: (item: T) => Promise<unknown>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await fn(items[next++]);
  };
  await Promise.all(Array.from({ length: Math.min(CONCURRENCY, items.length) }, worker));
}
