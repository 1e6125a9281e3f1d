// Lambda entry: root-cause hints for a firing alert (SNS → Lambda, asynchronous, with a DLQ).
// The hints engine is not in this build: the function validates the alert and says so.
import { createHintsHandler } from '../aws/hints.ts';

export const handler = createHintsHandler();
