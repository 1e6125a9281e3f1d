// Slow-request traces on AWS: not stored in this build (no AWS span store yet). Spans sent to the
// Lambda gateway are acknowledged and dropped with a log line saying so — answering 503 would have
// every agent retry them forever against a paid endpoint — and GET /v1/slow says it plainly.

import { ApiError } from '../errors.ts';
import type { SpanStore, SpanWriteResult, StoredSpan } from '../storage/spans.ts';

export const SPANS_UNAVAILABLE = 'slow-request traces are not stored by the AWS backend in this build';

export class DroppingSpanStore implements SpanStore {
  dropped = 0;

  constructor(private readonly log: (line: string) => void = (l) => console.error(l)) {}

  async write(tenant: string, spans: readonly StoredSpan[]): Promise<SpanWriteResult> {
    this.dropped += spans.length;
    this.log(`burnwatch gateway: dropped ${spans.length} span(s) of tenant ${tenant}: ${SPANS_UNAVAILABLE}`);
    return { inserted: 0, duplicates: 0 };
  }

  async fetchTraces(): Promise<never> {
    throw new ApiError(404, 'not_found', SPANS_UNAVAILABLE);
  }

  async close(): Promise<void> {}
}
