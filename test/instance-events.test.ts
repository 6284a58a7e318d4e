import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { withTransaction } from '../src/db/transaction.js';
import type { Deps } from '../src/deps.js';
import { moveInstance, recordEvent } from '../src/domain/instances/instance-events.js';
import type { InstanceEventMessage } from '../src/events/event-bus.js';
import { CREATE_INSTANCE, instanceInput, resetState, startTestDaemon, type TestDaemon } from './support/harness.js';

/** Events travel to subscribers (through Redis) only once the change they describe is committed. */
describe('instance events are published after commit', () => {
  let daemon: TestDaemon;
  let instanceId: string;

  before(async () => {
    daemon = await startTestDaemon();
    await resetState(daemon.deps);
    // No pool: the instance waits for a database.
    instanceId = (await daemon.gql(CREATE_INSTANCE, { input: instanceInput() })).data.createInstance.id;
  });
  after(async () => {
    await resetState(daemon.deps);
    await daemon.stop();
  });

  /** What the bus is handed, and whether each event's row was readable (committed) at that moment. */
  const watchingBus = (deps: Deps) => {
    const published: { id: string; committed: Promise<boolean> }[] = [];
    const events = {
      ...deps.events,
      publish: (_instanceId: string, event: { id: string }) =>
        published.push({
          id: event.id,
          committed: deps.db.selectFrom('instance_events').select('id').where('id', '=', event.id).executeTakeFirst().then(Boolean),
        }),
    };
    return { deps: { ...deps, events } as Deps, published };
  };

  it('publishes nothing for a transition whose transaction rolls back', async () => {
    const { deps, published } = watchingBus(daemon.deps);
    await assert.rejects(
      withTransaction(deps.db, async (trx) => {
        await moveInstance(deps, trx, { id: instanceId, status: 'WAITING_FOR_DATABASE' }, 'failLoad', { cause: 'test', actor: 'admin' });
        await recordEvent(deps, trx, instanceId, { cause: 'test', actor: 'admin' }, 'inside');
        throw new Error('rolled back');
      }),
      /rolled back/,
    );
    assert.deepEqual(published, []);
    const row = await deps.db.selectFrom('instances').select('status').where('id', '=', instanceId).executeTakeFirstOrThrow();
    assert.equal(row.status, 'WAITING_FOR_DATABASE');
  });

  it('publishes a committed transition once its row is visible to everyone, and subscribers receive it', async () => {
    const { deps, published } = watchingBus(daemon.deps);
    const received: InstanceEventMessage[] = [];
    const subscription = daemon.deps.events.subscribe(instanceId)[Symbol.asyncIterator]();
    const first = subscription.next().then((result) => received.push(result.value));
    await new Promise((resolve) => setTimeout(resolve, 200)); // the Redis SUBSCRIBE is on its way
    await withTransaction(deps.db, async (trx) => {
      await moveInstance(
        deps,
        trx,
        { id: instanceId, status: 'WAITING_FOR_DATABASE' },
        'failLoad',
        { cause: 'test', actor: 'admin' },
        { message: 'committed' },
      );
      assert.equal(published.length, 0, 'nothing is published while the transaction is open');
    });
    assert.equal(published.length, 1);
    assert.equal(await published[0]!.committed, true, 'the row was committed when the event left');
    // Through the real bus as well: what the daemon publishes, a subscriber receives.
    const [row] = await daemon.deps.db
      .selectFrom('instance_events')
      .selectAll()
      .where('instance_id', '=', instanceId)
      .where('message', '=', 'committed')
      .execute();
    daemon.deps.events.publish(instanceId, row!);
    await first;
    await subscription.return?.();
    assert.equal(received[0]?.message, 'committed');
  });
});
