/** `prl reproduce pav-rl`: PAV's effective reward against outcome-only RL. See experiment.ts for what it measures. */
export { agreement, newcombeDifference, sampleEfficiency, stepsToThreshold, type StepsToThreshold } from './analysis.js';
export { pavRl, runPavRl } from './experiment.js';
export type { VerifierQuality } from './planted-verifier.js';
export { summarise, type ArmResults, type PavRlResults, type ThresholdResult } from './results.js';
export {
  armsOf,
  FULL_SETTINGS,
  QUICK_SETTINGS,
  withUserModel,
  type ArithSettings,
  type ArmSpec,
  type PavRlSettings,
  type PlantedSettings,
  type PlantedVerifierSettings,
  type Thresholds,
} from './settings.js';
