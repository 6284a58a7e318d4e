/** Who is calling, as every layer sees it once the transport has identified the caller. */
export type Caller = { kind: 'admin' } | { kind: 'customer'; customerId: string } | { kind: 'anonymous' };

/** The actor recorded in an instance's history for what this caller does. */
export const actorOf = (caller: Caller): string => (caller.kind === 'customer' ? `customer:${caller.customerId}` : caller.kind);
