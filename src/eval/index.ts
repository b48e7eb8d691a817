/** Evaluation: the digit classifier, the metrics and the evaluator (see docs/evaluation.md). */
export { labelAccuracy, argmaxRows, confusionMatrix } from './accuracy';
export { DigitClassifier, classify, FEATURE_DIM, type Classification } from './classifier';
export { trainDigitClassifier, CLASSIFIER_TRAINING_DEFAULTS, type ClassifierTraining, type LabelledImages } from './train-classifier';
export {
  CLASSIFIER_DOMAINS, CLASSIFIER_EPOCHS, classifierPath, classifierData, ensureClassifier, loadClassifier, trainAndSaveClassifier,
  type ClassifierDomain, type LoadedClassifier,
} from './classifier-store';
export { fid, frechetDistance, gaussianStats, type GaussianStats } from './fid';
export { kid, mmd2Unbiased, type KidResult } from './kid';
export { inceptionScore, type IsResult } from './inception-score';
export { prdc, type PrdcResult } from './prdc';
export { symmetricEigen, sqrtPsd, meanAndCovariance, type FeatureMatrix } from './linalg';
export { InceptionModel, resizeBilinear } from './inception';
export { evaluateTranslation, EVAL_DEFAULTS, type EvalMetrics, type EvalSettings, type EvaluationRequest } from './evaluator';
export { evaluationHook, annotateCheckpoints } from './hook';
export { formatMetricsTable, formatMetricsLine } from './format';
