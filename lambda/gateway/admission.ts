// Admission control for writes: a bound on the writes the gateway holds at once (the one being
// stored plus those queued behind it). A write past the bound is refused with 429 and
// Retry-After instead of queueing without limit: an unbounded queue turns a burst into memory
// growth and into answers that come after the sender's timeout, so the sender resends a batch
// that is still queued and the backlog only grows. A refused sender keeps its batch and comes
// back later (the agent's spool, any OTLP exporter's retry on 429), so refusing loses nothing.

import { ApiError } from '../errors.ts';

export interface AdmissionLimits {
  /** Writes held at once: in progress or waiting for the store. */
  maxPendingWrites: number;
  /** What a refused sender is told to wait (Retry-After, whole seconds). */
  retryAfterSeconds: number;
}

export const DEFAULT_ADMISSION_LIMITS: AdmissionLimits = { maxPendingWrites: 64, retryAfterSeconds: 2 };

export class WriteAdmission {
  private pending = 0;
  /** Writes refused since start, for the gateway's /metrics. */
  refused = 0;
  readonly limits: AdmissionLimits;

  constructor(limits: Partial<AdmissionLimits> = {}) {
    this.limits = { ...DEFAULT_ADMISSION_LIMITS, ...limits };
    const { maxPendingWrites, retryAfterSeconds } = this.limits;
    if (!(Number.isInteger(maxPendingWrites) && maxPendingWrites >= 1)) throw new RangeError(`maxPendingWrites must be an integer ≥ 1, got ${maxPendingWrites}`);
    if (!(Number.isInteger(retryAfterSeconds) && retryAfterSeconds >= 1)) throw new RangeError(`retryAfterSeconds must be an integer ≥ 1, got ${retryAfterSeconds}`);
  }

  /** Writes held right now. */
  get inFlight(): number {
    return this.pending;
  }

  /**
   * Refuses at once when the bound is already reached: called before the body is read, so an
   * overloaded gateway spends nothing on a request it cannot store.
   */
  checkRoom(): void {
    if (this.pending >= this.limits.maxPendingWrites) throw this.overloaded();
  }

  /** Runs `write` holding one of the slots, or throws 429 when none is free. */
  async run<T>(write: () => Promise<T>): Promise<T> {
    this.checkRoom();
    this.pending++;
    try {
      return await write();
    } finally {
      this.pending--;
    }
  }

  private overloaded(): ApiError {
    this.refused++;
    return new ApiError(
      429,
      'overloaded',
      `the gateway holds ${this.limits.maxPendingWrites} pending write(s), its limit; nothing from this request was stored; retry after ${this.limits.retryAfterSeconds} s`,
      { retryAfter: this.limits.retryAfterSeconds },
    );
  }
}
