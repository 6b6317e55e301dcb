/** Pure math of PRL/FRPO and PAV: advantages, step segmentation, losses, metrics. No I/O. */
export * from './advantages.js';
export * from './steps.js';
export * from './prl.js';
export * from './frpo.js';
export * from './pav.js';
export * from './estimators.js';
export * from './loss.js';
export * from './tis.js';
export * from './metrics.js';
