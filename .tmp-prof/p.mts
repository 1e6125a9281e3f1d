import * as b from '../bench/slo-evaluation.ts';
process.env.BENCH_SLOS='1000';
