import { CheckExecEnvironmentTool } from '#protocol/tools/info';
import { checkExecEnvironment } from './check-exec-environment.ts';

/** The tools that describe the sandbox itself, by contract name, ready to register. */
export const infoTools = {
  check_exec_environment: { spec: CheckExecEnvironmentTool, handler: checkExecEnvironment },
} as const;
