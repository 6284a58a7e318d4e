import { labelKeys } from '../../src/swarm/labels.js';
import { odooSpec } from '../../src/swarm/odoo-config.js';
import type { OdooRuntimeInput } from '../../src/swarm/odoo-service.js';

/** A tenant's runtime as the daemon hands it to the pure job and service specs, on `image`. */
export const odooRuntimeFixture = (image = 'odoo:17.0'): OdooRuntimeInput => ({
  instance: { id: '3f1c2a9e-8b7d-4c6e-9f0a-1b2c3d4e5f60', subdomain: 'acme' },
  spec: odooSpec({ version: '17.0', image, cpuLimit: 1, memoryLimitMb: 1024, env: [] }),
  serviceName: 'odoo-acme-3f1c2a9e',
  network: 'odoo-net',
  cephfsRoot: '/mnt/cephfs',
  configSecret: { id: 'secret-id-1', name: 'odoo-config-3f1c2a9e' },
  restartMaxAttempts: 3,
  restartDelaySeconds: 7,
  odooUid: 101,
  extraLabels: { [labelKeys.testRun]: 'unit' },
});
