import { metadataOf, type KillbillNotification } from './notification.js';

/**
 * What a notification asks us to check. The body only says where to look: whether to act is decided on what
 * Kill Bill's API says about the object (a notification is unsigned, and may arrive late or out of order).
 */
export type Intent =
  /** A subscription began: provision its instance if Kill Bill shows it in a TRIAL phase. */
  | { kind: 'trial'; subscriptionId: string }
  /** An invoice was paid: provision or resume the instances of its subscriptions if nothing is left to pay. */
  | { kind: 'payment'; invoiceId: string }
  /** A cancellation took effect: suspend the subscription's instance until the grace period ends, if Kill Bill shows it cancelled. */
  | { kind: 'cancellation'; subscriptionId: string }
  /** A cancellation was undone: reactivate the subscription's instance if Kill Bill shows it active. */
  | { kind: 'uncancellation'; subscriptionId: string }
  /** A plan change took effect: move the instance to the plan Kill Bill shows, and resize it. */
  | { kind: 'planChange'; subscriptionId: string }
  /** The account's entitlement may be blocked or unblocked (overdue): suspend or resume per subscription state. */
  | { kind: 'entitlement'; accountId: string }
  | { kind: 'ignore'; reason: string };

const effectiveOnly = (n: KillbillNotification, metadata: Record<string, unknown>, intent: Intent): Intent =>
  metadata.actionType === 'EFFECTIVE'
    ? intent
    : {
        kind: 'ignore',
        reason: `${n.eventType} with actionType ${typeof metadata.actionType === 'string' ? metadata.actionType : 'missing'}: acted on when EFFECTIVE`,
      };

/** BlockingStateMetadata's creator names its flags `isTransitionedTo...`, its getters `getTransitionedTo...`: either spelling counts. */
const flag = (metadata: Record<string, unknown>, name: string): boolean =>
  metadata[`is${name}`] === true || metadata[name.charAt(0).toLowerCase() + name.slice(1)] === true;

/** Decides from the body alone which check, if any, a notification calls for. */
export function intentOf(n: KillbillNotification): Intent {
  const metadata = metadataOf(n);
  switch (n.eventType) {
    case 'SUBSCRIPTION_CREATION':
      // REQUESTED announces a future-dated creation; the EFFECTIVE notification follows when it starts.
      return effectiveOnly(n, metadata, { kind: 'trial', subscriptionId: n.objectId! });
    case 'INVOICE_PAYMENT_SUCCESS':
      return { kind: 'payment', invoiceId: n.objectId! };
    case 'SUBSCRIPTION_CANCEL':
      return effectiveOnly(n, metadata, { kind: 'cancellation', subscriptionId: n.objectId! });
    case 'SUBSCRIPTION_UNCANCEL':
      return { kind: 'uncancellation', subscriptionId: n.objectId! };
    case 'SUBSCRIPTION_CHANGE':
      return effectiveOnly(n, metadata, { kind: 'planChange', subscriptionId: n.objectId! });
    case 'BLOCKING_STATE':
      // Only a move of the entitlement (not of billing alone, nor a warning state) suspends or resumes anything.
      return flag(metadata, 'TransitionedToBlockedEntitlement') || flag(metadata, 'TransitionedToUnblockedEntitlement')
        ? { kind: 'entitlement', accountId: n.accountId! }
        : { kind: 'ignore', reason: 'BLOCKING_STATE that neither blocks nor unblocks entitlement' };
    case 'OVERDUE_CHANGE':
      // Carries no metadata: the overdue state is read from the subscriptions' entitlement state.
      return { kind: 'entitlement', accountId: n.accountId! };
    default:
      return { kind: 'ignore', reason: `${n.eventType} is not acted on` };
  }
}
