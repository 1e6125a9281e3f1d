// The suite's verdict as a Markdown table (it goes into docs/hints.md as printed), with the
// bar of issue 15 checked line by line and the confidence calibration.
import { CONFIDENT, type Outcome } from './runner.ts';

const mark = (ok: boolean) => (ok ? '✓' : '✗');

export function renderTable(outcomes: readonly Outcome[]): string {
  const rows = outcomes.map((o) => [
    o.scenario,
    o.expected,
    o.top1 ? `${o.top1.text} ${mark(o.top1Right)}` : '—',
    o.top3.map((h) => `${h.text}${h.right ? ' ✓' : ''}`).join('; ') || '—',
    o.top1 ? o.top1.confidence.toFixed(2) : '—',
    o.firstRightS === undefined ? '—' : String(o.firstRightS),
  ]);
  const head = ['scenario', 'expected cause', 'top-1', 'top-3', 'confidence', 's to first right top-1'];
  const line = (cells: string[]) => `| ${cells.map((c) => c.replace(/\|/g, '\\|')).join(' | ')} |`;
  return [line(head), line(head.map(() => '---')), ...rows.map(line)].join('\n');
}

export interface Verdict {
  faults: number;
  top1: number;
  top3: number;
  controlClean: boolean | undefined;
  /** Faults whose first right top-1 came within 120 s. */
  within2min: number;
  confident: number;
  confidentRight: number;
  lines: string[];
}

export function verdict(outcomes: readonly Outcome[]): Verdict {
  const faults = outcomes.filter((o) => o.expected.startsWith('none') === false);
  const control = outcomes.filter((o) => o.expected.startsWith('none'));
  const confident = outcomes.flatMap((o) => o.confident);
  const v = {
    faults: faults.length,
    top1: faults.filter((o) => o.top1Right).length,
    top3: faults.filter((o) => o.top3Right).length,
    controlClean: control.length ? control.every((o) => o.top1Right) : undefined,
    within2min: faults.filter((o) => o.firstRightS !== undefined && o.firstRightS <= 120).length,
    confident: confident.length,
    confidentRight: confident.filter((h) => h.right).length,
  };
  const share = (a: number, b: number) => (b === 0 ? 'n/a' : `${Math.round((100 * a) / b)}%`);
  const lines = [
    `top-1 right: ${v.top1}/${v.faults} faults (bar: ≥ 9 of 10) ${mark(v.top1 >= v.faults - Math.floor(v.faults / 10))}`,
    `top-3 right: ${v.top3}/${v.faults} (bar: all) ${mark(v.top3 === v.faults)}`,
    `control: ${v.controlClean === undefined ? 'not run' : v.controlClean ? `no hint with confidence ≥ ${CONFIDENT} ✓` : `a hint with confidence ≥ ${CONFIDENT} ✗`}`,
    `first right top-1 within 2 min: ${v.within2min}/${v.faults}`,
    `calibration: of ${v.confident} hints with confidence ≥ ${CONFIDENT} (last answer of each scenario), ${v.confidentRight} right (${share(v.confidentRight, v.confident)}; bar: ≥ 90%)`,
  ];
  return { ...v, lines };
}
