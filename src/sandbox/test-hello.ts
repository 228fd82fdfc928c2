import { PROTOCOL_VERSION } from '../protocol/agent-api.ts';

/** The hello a fake agent says in the link's unit tests, as a JSON-RPC notification. */
export const FAKE_HELLO = {
  jsonrpc: '2.0',
  method: 'hello',
  params: {
    protocolVersion: PROTOCOL_VERSION,
    agentVersion: 'fake',
    pid: 7,
    uid: 1000,
    gid: 1000,
    activeCommands: 0,
  },
} as const;
