// Lambda entry: root-cause hints for a firing alert (SNS → Lambda, asynchronous, with a DLQ),
// computed by the hints engine over the point store (Timestream or AMP), kept with the transition in DynamoDB and
// published to the alert topic enriched.
import { createHintsHandler } from '../aws/hints.ts';
import { ENV, requireEnv, sloStoreFromEnv, metricStoreFromEnv, spanStoreFromEnv } from '../aws/env.ts';
import type { HintStores } from '../hints/types.ts';
import { SnsNotifier } from '../notify/sns.ts';
import type { SloStore } from '../slo/store.ts';

let stores: HintStores | undefined;
let sloStore: SloStore | undefined;
let publisher: SnsNotifier | undefined;

// Slow requests (DynamoDB) feed the slow-dependency seed rule, as the local span store does.
export const handler = createHintsHandler(() => (stores ??= { metricStore: metricStoreFromEnv(), spanStore: spanStoreFromEnv() }), undefined, {
  sloStore: () => (sloStore ??= sloStoreFromEnv()),
  publisher: () => (publisher ??= new SnsNotifier(requireEnv(ENV.alertTopic))),
});
