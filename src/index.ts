/** The cgtrain library entry point. */
export { loadBackend, doctorReport, type Backend, type DeviceInfo } from './backend/device';
export { loadTranslator, type Translator, type LoadTranslatorOptions, type TranslateImageOptions, type TranslationSpec, type NchwArray } from './translate/translator';
