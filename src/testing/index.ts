export { TestDriver, type DriverOptions, type FlowRunResult } from './driver.js';
