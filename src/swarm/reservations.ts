import type { ServiceSpec } from './docker-types.js';

type Resources = NonNullable<ServiceSpec['TaskTemplate']['Resources']>;

/**
 * Pure: resources as the swarm's reservation policy wants them. With reservations off (SWARM_RESERVATIONS=off, for a
 * single small node such as a developer's machine or CI) a task keeps its limits but reserves nothing, so the
 * scheduler never leaves it pending for want of reservable CPU.
 */
export const reservedAs = (resources: Resources, reserve: boolean): Resources => (reserve ? resources : { Limits: resources.Limits });

/** Pure: the spec with its task's resources under the reservation policy. */
export const withReservationPolicy = (spec: ServiceSpec, reserve: boolean): ServiceSpec => {
  const resources = spec.TaskTemplate.Resources;
  return resources ? { ...spec, TaskTemplate: { ...spec.TaskTemplate, Resources: reservedAs(resources, reserve) } } : spec;
};
