/** Exit codes of this node's containers of ours, as Docker's `die` events give them; the newest few only. */
export interface ContainerExits {
  record(containerId: string, exitCode: number): void;
  exitCode(containerId: string): number | undefined;
}

export function createContainerExits(capacity = 1000): ContainerExits {
  const codes = new Map<string, number>();
  return {
    record(containerId, exitCode) {
      codes.delete(containerId);
      codes.set(containerId, exitCode);
      // A Map iterates in insertion order: the first key is the oldest.
      if (codes.size > capacity) codes.delete(codes.keys().next().value!);
    },
    exitCode: (containerId) => codes.get(containerId),
  };
}
