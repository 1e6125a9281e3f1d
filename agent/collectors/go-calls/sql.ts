// database/sql (bpf/lib/go_sql.bpf.h), deep: queryDC | execDC → putConn; db.system from the
// driver's connection type.
import { GO_ATTR, GO_METRIC } from '../../../common/catalogue.ts';
import type { GoCallFamily } from './family.ts';
import { KIND } from './layout.ts';

/** db.system from the package of the driver's connection type (the itab's concrete type). */
const SQL_DRIVER_SYSTEMS: [RegExp, string][] = [
  [/^github\.com\/lib\/pq\./, 'postgresql'],
  [/^github\.com\/jackc\/pgx/, 'postgresql'],
  [/^github\.com\/go-sql-driver\/mysql\./, 'mysql'],
  [/sqlite/i, 'sqlite'],
  [/mssqldb/i, 'mssql'],
  [/^github\.com\/ClickHouse\//, 'clickhouse'],
];

/** driver.Conn itab address (run time: link time + `bias`) → db.system, from the binary's symbols. */
export function sqlSystemsOf(symbols: Iterable<[string, { value: number | bigint }]>, bias: bigint): Map<bigint, string> {
  const out = new Map<bigint, string>();
  for (const [name, sym] of symbols) {
    const m = /^go\.itab\.\*?(.+),database\/sql\/driver\.Conn$/.exec(name);
    if (!m) continue;
    out.set(BigInt(sym.value) + bias, SQL_DRIVER_SYSTEMS.find(([re]) => re.test(m[1]))?.[1] ?? 'other_sql');
  }
  return out;
}

/** The SQL statement's first word, upper-cased; only letters survive (never a literal). */
export function operationWord(op: string): string {
  const m = /^\s*([A-Za-z]+)/.exec(op);
  return m ? m[1].toUpperCase() : 'UNKNOWN';
}

export const SQL: GoCallFamily = {
  name: 'sql',
  when: 'deep',
  points: (s) =>
    s.sqlClient
      ? [
          { program: 'go_sql_end', entry: s.sqlClient.points.putConn },
          { program: 'go_sql_query_start', entry: s.sqlClient.points.queryDC },
          { program: 'go_sql_exec_start', entry: s.sqlClient.points.execDC },
        ]
      : [],
  series: [
    {
      kind: KIND.sql,
      metric: GO_METRIC.dbClientDuration,
      attributes: (d, ctx) => ({
        [GO_ATTR.dbSystem]: ctx.sqlSystemOf(d.pid, d.driver),
        [GO_ATTR.dbOperation]: operationWord(d.op),
        ...(d.error ? { [GO_ATTR.errorType]: 'error' } : {}),
      }),
      subcall: { kind: 'sql', operation: operationWord, dbSystem: (pid, ctx) => ctx.soleSqlSystem(pid) },
    },
  ],
};
