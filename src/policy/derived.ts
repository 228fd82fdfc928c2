import type { AgentLimits } from '../protocol/limits.ts';
import { allowListOf, type EgressAllowList } from './egress.ts';
import type { LoadedPolicy } from './load.ts';
import type { Policy } from './schema.ts';

/** The part of a policy the agent enforces inside the container. */
export function agentLimits(policy: Policy): AgentLimits {
  return {
    maxFileBytes: policy.files.maxFileBytes,
    maxOutputBytesPerStream: policy.output.perStream,
    maxTotalOutputBytes: policy.output.total,
    maxActiveCommands: policy.commands.maxActive,
    maxRetainedCommands: policy.commands.maxRetained,
    commandRetentionMs: policy.commands.retention,
    defaultCommandTimeoutMs: policy.timeouts.commandDefault,
    maxCommandTimeoutMs: policy.timeouts.commandMax,
    maxResults: policy.files.maxResults,
  };
}

/** What a sandbox of this policy may reach through the egress proxy; null for `network: none`. */
export function egressAllowList(loaded: LoadedPolicy): EgressAllowList | null {
  const { network } = loaded.policy;
  return network === 'none' ? null : allowListOf(network.egress, loaded.hostLists);
}
