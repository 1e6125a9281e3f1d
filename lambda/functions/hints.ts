// Lambda entry: root-cause hints for a firing alert (SNS → Lambda, asynchronous, with a DLQ),
// computed by the hints engine over Timestream.
import { createHintsHandler } from '../aws/hints.ts';
import { timestreamStoreFromEnv } from '../aws/env.ts';
import type { HintStores } from '../hints/types.ts';

let stores: HintStores | undefined;

export const handler = createHintsHandler(() => (stores ??= { metricStore: timestreamStoreFromEnv() }));
