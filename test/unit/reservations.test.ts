import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ServiceSpec } from '../../src/swarm/docker-types.js';
import { reservedAs, withReservationPolicy } from '../../src/swarm/reservations.js';

const resources = { Limits: { NanoCPUs: 1e9, MemoryBytes: 2 ** 30 }, Reservations: { NanoCPUs: 25e7, MemoryBytes: 2 ** 28 } };
const spec = { Name: 'svc', TaskTemplate: { ContainerSpec: { Image: 'img' }, Resources: resources } } as ServiceSpec;

describe('reservation policy (SWARM_RESERVATIONS)', () => {
  it('keeps limits and reservations when reservations are on', () => {
    assert.deepEqual(reservedAs(resources, true), resources);
    assert.deepEqual(withReservationPolicy(spec, true), spec);
  });

  it('keeps the limits but reserves nothing when they are off', () => {
    assert.deepEqual(reservedAs(resources, false), { Limits: resources.Limits });
    const relaxed = withReservationPolicy(spec, false);
    assert.deepEqual(relaxed.TaskTemplate.Resources, { Limits: resources.Limits });
    assert.equal(relaxed.TaskTemplate.ContainerSpec?.Image, 'img');
    assert.deepEqual(spec.TaskTemplate.Resources, resources, 'the spec given is not changed');
  });
});
