import { metadataOf, type KillbillNotification } from './notification.js';

/**
 * What a notification asks us to check. The body only says where to look: whether to act is decided on what
 * Kill Bill's API says about the object (a notification is unsigned, and may arrive late or out of order).
 */
export type Intent =
  /** A subscription began: provision its instances if Kill Bill shows it in a TRIAL phase. */
  | { kind: 'trial'; subscriptionId: string }
  /** An invoice was paid: provision the instances of its subscriptions if nothing is left to pay. */
  | { kind: 'payment'; invoiceId: string }
  /** A cancellation took effect: terminate the subscription's instances if Kill Bill shows it cancelled. */
  | { kind: 'cancellation'; subscriptionId: string }
  /** The account's entitlement may be blocked (overdue): stop the instances of its blocked subscriptions. */
  | { kind: 'blocking'; accountId: string }
  | { kind: 'ignore'; reason: string };

/** Decides from the body alone which check, if any, a notification calls for. */
export function intentOf(n: KillbillNotification): Intent {
  const metadata = metadataOf(n);
  switch (n.eventType) {
    case 'SUBSCRIPTION_CREATION':
      // REQUESTED announces a future-dated creation; the EFFECTIVE notification follows when it starts.
      return metadata.actionType === 'EFFECTIVE'
        ? { kind: 'trial', subscriptionId: n.objectId! }
        : { kind: 'ignore', reason: `SUBSCRIPTION_CREATION with actionType ${String(metadata.actionType ?? 'missing')}: acted on when EFFECTIVE` };
    case 'INVOICE_PAYMENT_SUCCESS':
      return { kind: 'payment', invoiceId: n.objectId! };
    case 'SUBSCRIPTION_CANCEL':
      return metadata.actionType === 'EFFECTIVE'
        ? { kind: 'cancellation', subscriptionId: n.objectId! }
        : { kind: 'ignore', reason: `SUBSCRIPTION_CANCEL with actionType ${String(metadata.actionType ?? 'missing')}: acted on when EFFECTIVE` };
    case 'BLOCKING_STATE':
      // BlockingStateMetadata says which way the state moved; only a move to a blocked entitlement stops anything.
      // Its creator names the flag `isTransitionedTo...` and its getter `getTransitionedTo...`: either spelling counts.
      return metadata.isTransitionedToBlockedEntitlement === true || metadata.transitionedToBlockedEntitlement === true
        ? { kind: 'blocking', accountId: n.accountId! }
        : { kind: 'ignore', reason: 'BLOCKING_STATE that does not block entitlement' };
    case 'OVERDUE_CHANGE':
      // Carries no metadata: the overdue state is read from the subscriptions' entitlement state.
      return { kind: 'blocking', accountId: n.accountId! };
    default:
      return { kind: 'ignore', reason: `${n.eventType} is not acted on` };
  }
}
