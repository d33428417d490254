import { describeBudgetCountersConformance, describeStreamSlotsConformance } from '../limits.conformance.ts';
import { MemoryBudgetCounters } from './memory-budget-counters.ts';
import { MemoryStreamSlots } from './memory-stream-slots.ts';

describeStreamSlotsConformance('memory', () => new MemoryStreamSlots());
describeBudgetCountersConformance('memory', () => new MemoryBudgetCounters());
