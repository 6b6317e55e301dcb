/** `prl reproduce prl-vs-grpo`: PRL against GRPO and RAFT on arithmetic. See experiment.ts for what it measures. */
export { prlVsGrpo, runPrlVsGrpo } from './experiment.js';
export { summarise, type Comparison, type FinalMetric, type MethodResults, type PrlVsGrpoResults } from './results.js';
export {
  FULL_SETTINGS,
  methodsOf,
  QUICK_SETTINGS,
  TASK_OPTIONS,
  WARM_START_FULL,
  WARM_START_QUICK,
  withUserModel,
  type MethodSpec,
  type PrlVsGrpoSettings,
} from './settings.js';
