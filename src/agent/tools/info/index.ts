import { bindTools } from '../context.ts';
import { checkExecEnvironment } from './check-exec-environment.ts';

/** The tools that describe the sandbox itself, each with its descriptor. */
export const infoTools = bindTools({ check_exec_environment: checkExecEnvironment });
