/** `prl reproduce pav-search`: PAV beam search against best-of-N. See experiment.ts for what it measures. */
export {
  accuracyAtTokens,
  bestOfNEnvelope,
  bootstrapRatio,
  curvePoint,
  mostAccurate,
  ratioAtEqualAccuracy,
  sampleMethodsAt,
  type CurvePoint,
  type PerProblem,
} from './analysis.js';
export { pavSearch, runPavSearch } from './experiment.js';
export { summarise, type Curve, type PavSearchResults, type RatioResult } from './results.js';
export { alphasOf, FULL_SETTINGS, QUICK_SETTINGS, withUserModel, type PavSearchSettings } from './settings.js';
