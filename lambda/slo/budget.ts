// A wall-clock budget for work split into similar tasks (rollup chunks): a task starts only while
// one as long as the longest seen so far still ends before the deadline, so an invocation stops
// inside its timeout and leaves the rest to the next one.

export class TimeBudget {
  private longestMs = 0;

  constructor(
    readonly deadlineMs: number,
    private readonly clock: () => number = Date.now,
  ) {}

  /** Whether another task fits (with no task measured yet: whether any time is left). */
  fits(): boolean {
    return this.clock() + this.longestMs <= this.deadlineMs;
  }

  /** Runs a task and remembers its duration for the estimates. */
  async time<T>(task: () => Promise<T>): Promise<T> {
    const start = this.clock();
    try {
      return await task();
    } finally {
      this.longestMs = Math.max(this.longestMs, this.clock() - start);
    }
  }
}
