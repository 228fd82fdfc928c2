/**
 * How a sandbox lives: which state may follow which. Only the manager changes
 * a sandbox's state (SandboxManager.transition), through this table.
 */
export type SandboxState = 'creating' | 'ready' | 'idle' | 'stopped' | 'removed' | 'failed';

export const TRANSITIONS: Readonly<Record<SandboxState, readonly SandboxState[]>> = {
  // stopped: adopted by reconcile from a stopped container.
  creating: ['ready', 'stopped', 'failed', 'removed'],
  ready: ['idle', 'stopped', 'failed', 'removed'],
  idle: ['ready', 'stopped', 'failed', 'removed'],
  stopped: ['ready', 'failed', 'removed'],
  failed: ['removed'],
  removed: [],
};

export function canTransition(from: SandboxState, to: SandboxState): boolean {
  return TRANSITIONS[from].includes(to);
}

/**
 * The key of a sandbox's state setter. Only the manager imports it: anywhere
 * else, `sandbox.state` is read-only.
 */
export const ENTER_STATE: unique symbol = Symbol('enter state');
