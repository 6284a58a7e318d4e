import { performance } from 'node:perf_hooks';
import pg from 'pg';
import { generatePassword } from './src/crypto/passwords.js';
import { ensureTenantDatabase, dropTenantDatabase } from './src/domain/pool-server.js';
import { CREATE_INSTANCE, instanceInput, localPool, registerLocalPool, resetState, startTestDaemon } from './test/support/harness.js';
const d = await startTestDaemon({ LOG_LEVEL: 'warn', POOL_ADMIN_CONNECTIONS: process.env.CONNS ?? '8' });
await resetState(d.deps);
await registerLocalPool(d, 'prof', 1000);
const N = 64;
async function conc(call: (c: number, n: number) => Promise<void>) {
  let issued = 0; const s = performance.now();
  await Promise.all(Array.from({ length: 16 }, async (_, c) => { while (issued < N) { const n = issued++; await call(c, n); } }));
  return N / ((performance.now() - s) / 1000);
}
for (let round = 0; round < 2; round++) {
  const dr = await conc(async () => { const r = await d.gql(CREATE_INSTANCE, { input: instanceInput() }); if (r.data?.createInstance?.status !== 'ALLOCATED') throw new Error(JSON.stringify(r)); });
  await resetState(d.deps); await registerLocalPool(d, 'prof', 1000);
  const clients = await Promise.all(Array.from({ length: 16 }, async () => { const c = new pg.Client({ host: localPool.host, port: localPool.port, user: localPool.adminUser, password: localPool.adminPassword, database: 'postgres' }); await c.connect(); return c; }));
  const br = await conc((c, n) => ensureTenantDatabase(clients[c]!, { database: `tp_${n}`, role: `tp_${n}_u` }, generatePassword(), 10));
  for (let n = 0; n < N; n++) await dropTenantDatabase(clients[0]!, { database: `tp_${n}`, role: `tp_${n}_u` });
  await Promise.all(clients.map((c) => c.end()));
  console.log(`conns=${process.env.CONNS ?? 8} daemon ${dr.toFixed(1)}/s bare ${br.toFixed(1)}/s ratio ${(dr / br).toFixed(2)}`);
}
await resetState(d.deps);
await d.stop();
