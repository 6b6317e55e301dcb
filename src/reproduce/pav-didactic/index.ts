/** `prl reproduce pav-didactic`: PAV's didactic planted task (Fig. 3). See experiment.ts for what it measures. */
export { accuracyCurve, compareArms, firstReach, passCurve, proverStrength } from './analysis.js';
export { armConfig, pavDidactic, runPavDidactic } from './experiment.js';
export type { PavDidacticResults } from './results.js';
export { armId, FULL_SETTINGS, QUICK_SETTINGS, type ArmSpec, type PavDidacticSettings } from './settings.js';
