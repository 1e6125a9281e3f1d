// Redis clients (bpf/lib/go_redis.bpf.h), deep: redigo's DoWithTimeout and go-redis v5's
// defaultProcess, each an entry and its RETs; one series kind for both.
import { GO_ATTR, GO_METRIC } from '../../../common/catalogue.ts';
import type { GoCallFamily } from './family.ts';
import { KIND } from './layout.ts';

export const REDIS: GoCallFamily = {
  name: 'redis',
  when: 'deep',
  points: (s) => [
    ...(s.redigo
      ? [
          { program: 'go_redis_ret', returns: s.redigo.points.doWithTimeoutReturns.fileOffsets },
          { program: 'go_redis_start', entry: s.redigo.points.doWithTimeout },
        ]
      : []),
    ...(s.redisV5
      ? [
          { program: 'go_redis5_ret', returns: s.redisV5.points.processReturns.fileOffsets },
          { program: 'go_redis5_start', entry: s.redisV5.points.process },
        ]
      : []),
  ],
  series: [
    {
      kind: KIND.redis,
      metric: GO_METRIC.dbClientDuration,
      attributes: (d) => ({
        [GO_ATTR.dbSystem]: 'redis',
        [GO_ATTR.dbOperation]: d.op.toUpperCase(),
        ...(d.error ? { [GO_ATTR.errorType]: 'error' } : {}),
      }),
      subcall: { kind: 'redis', operation: (op) => op.toUpperCase() },
    },
  ],
};
