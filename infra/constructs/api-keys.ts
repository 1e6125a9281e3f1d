// API keys live in one Secrets Manager secret, `{"<tenant>": "<key>" | ["<key>", …]}`
// (lambda/aws/secrets.ts). The first tenant's key is generated at deploy time, so no key is ever in
// the code, the template or a function's environment (which holds only the secret's ARN).

import { RemovalPolicy, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import type { Settings } from '../settings.ts';

export class ApiKeys extends Construct {
  readonly secret: secretsmanager.Secret;

  constructor(scope: Construct, id: string, settings: Settings) {
    super(scope, id);
    this.secret = new secretsmanager.Secret(this, 'Secret', {
      description: `burnwatch ${settings.stage}: API keys, {"<tenant>": "<key>" | ["<key>", ...]}`,
      generateSecretString: {
        secretStringTemplate: '{}',
        generateStringKey: settings.tenant,
        passwordLength: 40,
        excludePunctuation: true,
      },
      // Deleting it would regenerate the key on the next deploy and lock every agent out.
      removalPolicy: settings.protectData ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY,
    });
    Validations.of(this.secret).acknowledge({
      id: 'AwsSolutions-SMG4',
      reason: 'API keys are handed to agents out of band; rotating one means updating every agent using it, so rotation is an operator action (docs/aws.md), not a rotation Lambda.',
    });
  }

  /** GetSecretValue on this secret only; the ARN goes in the environment, the value never does. */
  grantRead(role: iam.IRole): Record<string, string> {
    this.secret.grantRead(role);
    return { BURNWATCH_API_KEYS_SECRET_ARN: this.secret.secretArn };
  }
}
