import { resetInstanceAdminPassword, type AdminCredentials } from '../domain/instances/admin-password.js';
import { builder } from './builder.js';
import { adminOrCustomer, ownedInstance, triggerOf } from './context.js';

const InstanceAdminCredentials = builder.objectRef<AdminCredentials>('InstanceAdminCredentials').implement({
  description: "The login and password of the Odoo instance's admin user, given once.",
  fields: (t) => ({
    login: t.exposeString('login'),
    password: t.exposeString('password'),
  }),
});

builder.objectFields('Instance', (t) => ({
  initializedAt: t.field({
    type: 'DateTime',
    nullable: true,
    description: 'When its init job had initialised the database (and the default admin was replaced); null until then.',
    resolve: (instance) => instance.initialized_at,
  }),
}));

builder.mutationFields((t) => ({
  resetInstanceAdminPassword: t.field({
    type: InstanceAdminCredentials,
    description: "Gives the instance's Odoo admin (login: its adminEmail) a fresh password, returned once; the previous one stops working.",
    authScopes: adminOrCustomer,
    args: { instanceId: t.arg.id({ required: true }) },
    resolve: async (_root, { instanceId }, context) =>
      resetInstanceAdminPassword(
        context.deps,
        (await ownedInstance(context, instanceId)).id,
        triggerOf(context, 'resetInstanceAdminPassword'),
      ),
  }),
}));
