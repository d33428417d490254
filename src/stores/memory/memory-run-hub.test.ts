import { describeRunHubConformance } from '../run-hub.conformance.ts';
import { MemoryRunHub } from './memory-run-hub.ts';

describeRunHubConformance('memory', (options) => new MemoryRunHub(options));
