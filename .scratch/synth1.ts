import { App } from 'aws-cdk-lib';
import { buildApp } from '../infra/app.ts';
const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } , outdir: '/tmp/cdkout1'});
buildApp(app);
try { app.synth(); console.log('ok'); } catch (e) { console.log(String((e as Error).message).slice(0, 6000)); }
