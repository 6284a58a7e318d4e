import { getOperationAST, type ExecutionArgs } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import type { Metrics } from './metrics.js';

/** Operation names are the caller's words: past this many characters, or with other characters, they are not a label. */
const labelName = (name: string | undefined): string => (name && /^[A-Za-z_][A-Za-z0-9_]{0,63}$/.test(name) ? name : 'anonymous');

/** Counts and times every GraphQL operation yoga executes, by type, name and outcome. */
export function useOperationMetrics(metrics: Metrics): Plugin {
  return {
    onExecute({ args }) {
      const { document, operationName } = args as ExecutionArgs;
      const operation = getOperationAST(document, operationName);
      const labels = { type: operation?.operation ?? 'unknown', name: labelName(operation?.name?.value) };
      const endTimer = metrics.graphqlSeconds.startTimer(labels);
      return {
        onExecuteDone({ result }) {
          endTimer();
          const failed = 'errors' in result && Array.isArray(result.errors) && result.errors.length > 0;
          metrics.graphqlOperations.inc({ ...labels, outcome: failed ? 'errors' : 'ok' });
        },
      };
    },
  };
}
