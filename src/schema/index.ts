import { builder } from './builder.js';
import './pools.js';
import './instances.js';
import './billing.js';
import './plans.js';
import './instance-actions.js';
import './admin-credentials.js';
import './backups.js';
import './storage.js';
import './templates.js';
import './modules.js';
import './staging.js';
import './rollouts.js';

export const schema = builder.toSchema({ sortSchema: true });
export type { GraphQLContext } from './context.js';
