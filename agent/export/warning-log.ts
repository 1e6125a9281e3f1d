// One log line per kind of warning per interval, however many batches carry it. An endpoint
// words a warning with counts and times ("12 point(s) stored but readable only by 2026-…"), so
// the messages of two batches differ in their digits only: those are one kind. The first of a
// kind is logged in full; repeats within the interval are counted, and the next line of that
// kind says how many there were, so nothing is hidden and the log cannot flood.

/** Kinds remembered at once; the least recently seen is forgotten first (messages are endpoint-made). */
const MAX_KINDS = 64;

interface Kind {
  loggedAtMs: number;
  repeats: number;
}

export class WarningLog {
  private readonly kinds = new Map<string, Kind>();

  constructor(
    private readonly log: (line: string) => void,
    private readonly intervalMs: number,
    private readonly now: () => number = Date.now,
  ) {
    if (!(intervalMs >= 0)) throw new RangeError(`warning log interval must be >= 0 ms, got ${intervalMs}`);
  }

  /** Logs `line(repeats)` unless a warning of the same kind was logged within the interval; `repeats`: those not logged since. */
  warn(message: string, line: (repeats: number) => string): void {
    const key = message.replace(/\d+/g, '#');
    const now = this.now();
    const kind = this.kinds.get(key);
    this.kinds.delete(key);
    if (kind && now - kind.loggedAtMs < this.intervalMs) {
      kind.repeats++;
      this.kinds.set(key, kind);
      return;
    }
    this.log(line(kind?.repeats ?? 0));
    this.kinds.set(key, { loggedAtMs: now, repeats: 0 });
    if (this.kinds.size > MAX_KINDS) this.kinds.delete(this.kinds.keys().next().value!);
  }
}
