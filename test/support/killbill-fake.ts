import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { defaultCustomerId } from './harness.js';

/**
 * A stand-in for Kill Bill's API on 127.0.0.1: the documented JSON of subscriptions, invoices, accounts and their bundles,
 * served from fixtures the test sets, behind Kill Bill's authentication (Basic user + tenant key/secret headers).
 */
export interface KillbillFake {
  url: string;
  credentials: { apiKey: string; apiSecret: string; username: string; password: string };
  /** The daemon's KILLBILL_* variables for this fake. */
  env: Record<string, string>;
  requests: RecordedRequest[];
  /** Sets a subscription (again, to change its state or plan); its account is made with the customer as externalKey. */
  subscription: (fixture: SubscriptionFixture) => SubscriptionJson;
  /** Sets an account and the customer id it carries as `externalKey`. */
  account: (fixture: { accountId?: string; externalKey: string | null }) => AccountJson;
  invoice: (fixture: InvoiceFixture) => InvoiceJson;
  reset: () => void;
  close: () => Promise<void>;
}

export interface RecordedRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  /** Whether the request carried the right user, password, API key and secret. */
  authorized: boolean;
}

export interface SubscriptionFixture {
  subscriptionId?: string;
  accountId?: string;
  bundleId?: string;
  phaseType: 'TRIAL' | 'DISCOUNT' | 'FIXEDTERM' | 'EVERGREEN';
  state: 'PENDING' | 'ACTIVE' | 'BLOCKED' | 'CANCELLED' | 'EXPIRED';
  /** Default: odoo-hosting-monthly. */
  planName?: string;
  /** The externalKey of a new account (default: the harness's default customer); an existing account keeps its own. */
  customerId?: string;
}

export interface InvoiceFixture {
  invoiceId?: string;
  accountId: string;
  balance: number;
  /** Items with a subscription id bill that subscription; null stands for taxes, credits and adjustments. */
  items: { subscriptionId: string | null; amount: number; itemType?: string }[];
}

export type SubscriptionJson = ReturnType<typeof subscriptionJson>;
export type AccountJson = ReturnType<typeof accountJson>;
type StoredSubscription = Required<Omit<SubscriptionFixture, 'customerId'>>;
export type InvoiceJson = ReturnType<typeof invoiceJson>;

const today = () => new Date().toISOString().slice(0, 10);

/** Kill Bill's SubscriptionJson, every documented field present. */
function subscriptionJson(f: StoredSubscription) {
  return {
    accountId: f.accountId,
    bundleId: f.bundleId,
    bundleExternalKey: `bundle-${f.bundleId.slice(0, 8)}`,
    subscriptionId: f.subscriptionId,
    externalKey: `sub-${f.subscriptionId.slice(0, 8)}`,
    startDate: today(),
    productName: 'OdooHosting',
    productCategory: 'BASE',
    billingPeriod: 'MONTHLY',
    phaseType: f.phaseType,
    priceList: 'DEFAULT',
    planName: f.planName,
    state: f.state,
    sourceType: 'NATIVE',
    cancelledDate: f.state === 'CANCELLED' ? today() : null,
    chargedThroughDate: null,
    billingStartDate: today(),
    billingEndDate: f.state === 'CANCELLED' ? today() : null,
    billCycleDayLocal: 1,
    quantity: 1,
    events: [
      {
        eventId: randomUUID(),
        billingPeriod: 'MONTHLY',
        effectiveDate: today(),
        catalogEffectiveDate: new Date().toISOString(),
        plan: f.planName,
        product: 'OdooHosting',
        priceList: 'DEFAULT',
        eventType: 'START_ENTITLEMENT',
        isBlockedBilling: false,
        isBlockedEntitlement: false,
        serviceName: 'entitlement-service',
        serviceStateName: 'ENT_STARTED',
        phase: `${f.planName}-${f.phaseType.toLowerCase()}`,
        auditLogs: [],
      },
    ],
    priceOverrides: null,
    prices: [],
    auditLogs: [],
  };
}

/** Kill Bill's AccountJson, every documented field present. */
function accountJson(accountId: string, externalKey: string | null) {
  return {
    accountId,
    name: 'Acme SARL',
    firstNameLength: 4,
    externalKey,
    email: 'billing@acme.example',
    billCycleDayLocal: 1,
    currency: 'EUR',
    parentAccountId: null,
    isPaymentDelegatedToParent: false,
    paymentMethodId: null,
    referenceTime: new Date().toISOString(),
    timeZone: 'UTC',
    address1: null,
    address2: null,
    postalCode: null,
    company: 'Acme',
    city: null,
    state: null,
    country: 'FR',
    locale: 'fr_FR',
    phone: null,
    notes: null,
    isMigrated: false,
    accountBalance: null,
    accountCBA: null,
    auditLogs: [],
  };
}

/** Kill Bill's InvoiceJson with its InvoiceItemJson items. */
function invoiceJson(f: Required<InvoiceFixture>, withItems: boolean) {
  const amount = f.items.reduce((sum, item) => sum + item.amount, 0);
  return {
    amount,
    currency: 'EUR',
    status: 'COMMITTED',
    creditAdj: 0,
    refundAdj: 0,
    invoiceId: f.invoiceId,
    invoiceDate: today(),
    targetDate: today(),
    invoiceNumber: '1042',
    balance: f.balance,
    accountId: f.accountId,
    bundleKeys: null,
    credits: null,
    items: withItems
      ? f.items.map((item) => ({
          invoiceItemId: randomUUID(),
          invoiceId: f.invoiceId,
          linkedInvoiceItemId: null,
          accountId: f.accountId,
          childAccountId: null,
          bundleId: item.subscriptionId ? randomUUID() : null,
          subscriptionId: item.subscriptionId,
          productName: item.subscriptionId ? 'OdooHosting' : null,
          planName: item.subscriptionId ? 'odoo-hosting-monthly' : null,
          phaseName: item.subscriptionId ? 'odoo-hosting-monthly-evergreen' : null,
          usageName: null,
          prettyProductName: null,
          prettyPlanName: null,
          prettyPhaseName: null,
          prettyUsageName: null,
          itemType: item.itemType ?? (item.subscriptionId ? 'RECURRING' : 'TAX'),
          description: item.subscriptionId ? 'odoo-hosting-monthly-evergreen' : 'VAT',
          startDate: today(),
          endDate: null,
          amount: item.amount,
          rate: item.subscriptionId ? item.amount : null,
          currency: 'EUR',
          quantity: null,
          itemDetails: null,
          catalogEffectiveDate: null,
          childItems: null,
          auditLogs: [],
        }))
      : [],
    trackingIds: [],
    isParentInvoice: false,
    parentInvoiceId: null,
    parentAccountId: null,
    auditLogs: [],
  };
}

function send(response: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) {
  response.writeHead(status, { 'content-type': 'application/json', ...headers });
  response.end(body === undefined ? undefined : JSON.stringify(body));
}

const notFound = (className: string, message: string) => ({
  className,
  code: 404,
  message,
  causeClassName: null,
  causeMessage: null,
  stackTrace: [],
});

export async function startKillbillFake(): Promise<KillbillFake> {
  const credentials = {
    apiKey: `odoo-${randomBytes(4).toString('hex')}`,
    apiSecret: randomBytes(18).toString('base64url'),
    username: 'orchestrator',
    password: randomBytes(18).toString('base64url'),
  };
  const subscriptions = new Map<string, StoredSubscription>();
  const accounts = new Map<string, string | null>();
  const invoices = new Map<string, Required<InvoiceFixture>>();
  const requests: RecordedRequest[] = [];

  const isAuthorized = (request: IncomingMessage) => {
    const expectedBasic = `Basic ${Buffer.from(`${credentials.username}:${credentials.password}`).toString('base64')}`;
    return (
      request.headers.authorization === expectedBasic &&
      request.headers['x-killbill-apikey'] === credentials.apiKey &&
      request.headers['x-killbill-apisecret'] === credentials.apiSecret
    );
  };

  const server = createServer((request, response) => {
    const url = new URL(request.url ?? '/', 'http://killbill.fake');
    const authorized = isAuthorized(request);
    requests.push({ method: request.method ?? 'GET', path: url.pathname, query: Object.fromEntries(url.searchParams), authorized });
    if (!authorized) return send(response, 401, undefined, { 'www-authenticate': 'BASIC realm="application"' });
    if (request.method !== 'GET') return send(response, 405, undefined);

    let match = /^\/1\.0\/kb\/subscriptions\/([^/]+)$/.exec(url.pathname);
    if (match) {
      const subscription = subscriptions.get(match[1]!);
      return subscription
        ? send(response, 200, subscriptionJson(subscription))
        : send(
            response,
            404,
            notFound(
              'org.killbill.billing.entitlement.api.EntitlementApiException',
              `Object id=${match[1]} type=SUBSCRIPTION doesn't exist!`,
            ),
          );
    }
    match = /^\/1\.0\/kb\/invoices\/([^/]+)$/.exec(url.pathname);
    if (match) {
      const invoice = invoices.get(match[1]!);
      return invoice
        ? send(response, 200, invoiceJson(invoice, url.searchParams.get('withItems') === 'true'))
        : send(
            response,
            404,
            notFound('org.killbill.billing.invoice.api.InvoiceApiException', `No invoice could be found for id ${match[1]}.`),
          );
    }
    match = /^\/1\.0\/kb\/accounts\/([^/]+)$/.exec(url.pathname);
    if (match) {
      const accountId = match[1]!;
      return accounts.has(accountId)
        ? send(response, 200, accountJson(accountId, accounts.get(accountId)!))
        : send(
            response,
            404,
            notFound('org.killbill.billing.account.api.AccountApiException', `Account does not exist for id ${accountId}`),
          );
    }
    match = /^\/1\.0\/kb\/accounts\/([^/]+)\/bundles$/.exec(url.pathname);
    if (match) {
      const accountId = match[1]!;
      const bundles = new Map<string, ReturnType<typeof subscriptionJson>[]>();
      for (const subscription of subscriptions.values()) {
        if (subscription.accountId !== accountId) continue;
        bundles.set(subscription.bundleId, [...(bundles.get(subscription.bundleId) ?? []), subscriptionJson(subscription)]);
      }
      return send(
        response,
        200,
        [...bundles].map(([bundleId, subs]) => ({
          accountId,
          bundleId,
          externalKey: `bundle-${bundleId.slice(0, 8)}`,
          subscriptions: subs,
          timeline: null,
          auditLogs: [],
        })),
      );
    }
    return send(response, 404, undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  return {
    url,
    credentials,
    env: {
      KILLBILL_URL: url,
      KILLBILL_API_KEY: credentials.apiKey,
      KILLBILL_API_SECRET: credentials.apiSecret,
      KILLBILL_USERNAME: credentials.username,
      KILLBILL_PASSWORD: credentials.password,
    },
    requests,
    subscription: ({ customerId, ...fixture }) => {
      const full: StoredSubscription = {
        ...fixture,
        subscriptionId: fixture.subscriptionId ?? randomUUID(),
        accountId: fixture.accountId ?? randomUUID(),
        bundleId: fixture.bundleId ?? randomUUID(),
        planName: fixture.planName ?? 'odoo-hosting-monthly',
      };
      subscriptions.set(full.subscriptionId, full);
      if (!accounts.has(full.accountId) || customerId) accounts.set(full.accountId, customerId ?? defaultCustomerId);
      return subscriptionJson(full);
    },
    account: ({ accountId = randomUUID(), externalKey }) => {
      accounts.set(accountId, externalKey);
      return accountJson(accountId, externalKey);
    },
    invoice: (fixture) => {
      const full = { ...fixture, invoiceId: fixture.invoiceId ?? randomUUID() };
      invoices.set(full.invoiceId, full);
      return invoiceJson(full, true);
    },
    reset: () => {
      subscriptions.clear();
      accounts.clear();
      invoices.clear();
      requests.length = 0;
    },
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
