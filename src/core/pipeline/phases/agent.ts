// The agent loop: generate as a sequence of steps. Each step is one model call offered the chatbot's tools; the
// calls it makes run (in parallel) and their results go back to the model in the next step, until it answers in
// text or the step cap is reached. Every piece reaches the run log as it happens: the step, the tool input as the
// model writes it, the complete call, its result, and the text of each step.

import { RivuletError, type ErrorCode } from '../../errors.ts';
import type { FinishReason, ToolError, Usage } from '../../events.ts';
import type { ChatMessage, StreamPart, ToolCallRequest, ToolDefinition } from '../../provider.ts';
import type { Passage } from '../../retriever.ts';
import type { AgentSetup, PipelineContext, ToolOutcome } from '../context.ts';
import { SEARCH_DOCUMENTS, searchDocumentsTool, type SearchSession } from '../search-tool.ts';

/** A step's record: its text, the calls it made, and how its model call ended. */
export interface AgentStep {
  step: number;
  text: string;
  toolCalls: AgentToolCall[];
  finishReason: FinishReason;
}

/** A tool call as stored with the answer: its input, then its output or coded error. */
export interface AgentToolCall {
  toolCallId: string;
  name: string;
  input: unknown;
  output?: unknown;
  error?: ToolError;
  durationMs?: number;
}

/** What the model reads when a tool failed: the code first, as the client sees it. */
function failureText(error: ToolError): string {
  return `Error ${error.code}: ${error.message}`;
}

function toolError(code: ErrorCode, detail?: string): ToolError {
  const known = new RivuletError(code);
  return { code, message: detail === undefined ? known.message : `${known.message} ${detail}` };
}

/** Parses a call's input text: `{}` when empty; undefined when it is not JSON (the call is then refused). */
function parseInput(inputText: string): { ok: true; input: unknown } | { ok: false } {
  if (inputText.trim() === '') return { ok: true, input: {} };
  try {
    return { ok: true, input: JSON.parse(inputText) as unknown };
  } catch {
    return { ok: false };
  }
}

function addUsage(total: Usage | null, step: Usage | null): Usage | null {
  if (step === null) return total;
  if (total === null) return step;
  const estimated = total.estimated === true || step.estimated === true;
  return {
    inputTokens: total.inputTokens + step.inputTokens,
    outputTokens: total.outputTokens + step.outputTokens,
    ...(estimated ? { estimated } : {}),
  };
}

/**
 * Runs the loop on `messages` (the prompt built for this answer) and holds the `done` ending. `passages` are the ones
 * retrieved before the loop (when search_documents is not a tool); the search tool adds its own as sources.
 */
export async function agentPhase(
  context: PipelineContext,
  setup: AgentSetup,
  messages: ChatMessage[],
  passages: readonly Passage[],
): Promise<AgentStep[]> {
  const { run, input, deps, recorder, choice } = context;
  const chatbot = input.chatbot;
  const search: SearchSession | undefined = setup.searchDocuments
    ? searchDocumentsTool(context, passages.length)
    : undefined;
  const external = setup.tools === undefined ? [] : await setup.tools.list(run.signal);
  const tools: ToolDefinition[] = [
    ...(search === undefined ? [] : [search.definition]),
    ...external.filter((tool) => tool.name !== SEARCH_DOCUMENTS),
  ];
  const known = new Set(tools.map((tool) => tool.name));
  recorder.prompt = messages;
  const conversation = [...messages];
  const steps: AgentStep[] = [];
  let usage: Usage | null = null;

  for (let number = 1; ; number += 1) {
    run.append({ type: 'step', step: number, state: 'start' });
    const step: AgentStep = { step: number, text: '', toolCalls: [], finishReason: 'stop' };
    steps.push(step);
    recorder.beginPhase('generate', number);
    const maxTokens =
      (await input.fitToBudget?.(conversation)) ?? input.maxTokens ?? chatbot.maxTokens ?? undefined;
    run.signal.throwIfAborted();
    const calls = new Map<string, { name: string; started: boolean; request?: ToolCallRequest }>();
    let stepUsage: Usage | null = null;
    const trace = recorder.trace;
    // Steps after the first start their text on a new paragraph, so the answer's text reads as one.
    let separated = recorder.text === '' || recorder.text.endsWith('\n');
    /** Where this step's text starts in the answer's (the step's text is read from there once it ends). */
    let textStart = recorder.text.length;
    const onPart = (part: StreamPart): void => {
      switch (part.type) {
        case 'text-delta':
          if (!separated && part.text !== '') {
            separated = true;
            recorder.emitToken('\n\n');
            textStart = recorder.text.length;
          }
          recorder.emitProviderToken(part.text);
          return;
        case 'usage':
          stepUsage = part.usage;
          return;
        case 'finish':
          step.finishReason = part.finishReason;
          return;
        case 'queued':
          // Each step's model call may wait for a provider slot (PROVIDER_MAX_CONCURRENT).
          run.append(part);
          return;
        case 'failover': {
          recorder.failedOver = true;
          run.append({ type: 'failover', from: part.from, to: part.to, reason: part.reason });
          // The next provider restarts the step: a call this one began is never run.
          for (const [toolCallId, call] of calls) {
            const error = toolError('TOOL_CALL_ABANDONED');
            run.append({ type: 'tool-result', toolCallId, name: call.name, output: null, error });
          }
          calls.clear();
          // The next provider writes the step again from its start: what it writes is the step's text.
          if (part.restart === true) textStart = recorder.text.length;
          return;
        }
        case 'tool-input-start':
          calls.set(part.toolCallId, { name: part.name, started: true });
          run.append({
            type: 'tool-input-start',
            toolCallId: part.toolCallId,
            name: part.name,
            step: number,
          });
          return;
        case 'tool-input-delta':
          if (!calls.has(part.toolCallId)) return;
          run.append({ type: 'tool-input-delta', toolCallId: part.toolCallId, delta: part.delta });
          return;
        case 'tool-call': {
          const call = calls.get(part.toolCallId);
          // A provider that sends whole calls (Ollama) announces them here.
          if (call === undefined) {
            run.append({
              type: 'tool-input-start',
              toolCallId: part.toolCallId,
              name: part.name,
              step: number,
            });
          }
          calls.set(part.toolCallId, {
            name: part.name,
            started: true,
            request: { toolCallId: part.toolCallId, name: part.name, inputText: part.inputText },
          });
          const parsed = parseInput(part.inputText);
          run.append({
            type: 'tool-call',
            toolCallId: part.toolCallId,
            name: part.name,
            input: parsed.ok ? parsed.input : part.inputText,
            step: number,
          });
          return;
        }
        default: {
          const unreachable: never = part;
          throw new Error(`unknown stream part ${String(unreachable)}`);
        }
      }
    };
    await deps.model.stream(
      {
        messages: conversation,
        temperature: input.temperature ?? chatbot.temperature ?? undefined,
        maxTokens,
        ...choice,
        passages,
        ...(chatbot.limits.stallTimeoutMs == null ? {} : { stallMs: chatbot.limits.stallTimeoutMs }),
        ...(tools.length === 0 ? {} : { tools }),
      },
      {
        signal: run.signal,
        requester: input.requester,
        onProviderCall: (call) => trace.providerCall?.(call),
        // This step's text so far (a restart starts it again): a chain continuing after a failure sends it.
        textSoFar: () => recorder.text.slice(textStart),
        onPart,
      },
    );
    recorder.endPhase();
    step.text = recorder.text.slice(textStart);
    usage = addUsage(usage, stepUsage);

    const requests = [...calls.values()].flatMap((call) =>
      call.request === undefined ? [] : [call.request],
    );
    // Begun but never completed (the stream ended mid-call): reported, never run.
    for (const [toolCallId, call] of calls) {
      if (call.request !== undefined) continue;
      const error = toolError('TOOL_INPUT_INVALID', 'The call was cut off before its input was complete.');
      run.append({ type: 'tool-result', toolCallId, name: call.name, output: null, error });
    }
    if (requests.length === 0) {
      run.append({ type: 'step', step: number, state: 'end', finishReason: step.finishReason });
      recorder.finishReason = step.finishReason === 'tool-calls' ? 'stop' : step.finishReason;
      break;
    }
    step.finishReason = 'tool-calls';
    if (number >= setup.maxSteps) {
      // The cap: the calls of the last step are not run, and the answer says why it ended.
      for (const request of requests) {
        const error = toolError('AGENT_MAX_STEPS', `The cap is ${setup.maxSteps} steps.`);
        step.toolCalls.push({ toolCallId: request.toolCallId, name: request.name, input: null, error });
        run.append({
          type: 'tool-result',
          toolCallId: request.toolCallId,
          name: request.name,
          output: null,
          error,
        });
      }
      run.append({ type: 'step', step: number, state: 'end', finishReason: 'tool-calls' });
      recorder.finishReason = 'max-steps';
      break;
    }

    const outcomes = await Promise.all(
      requests.map(async (request) => {
        const startedAt = performance.now();
        const outcome = await runTool(context, setup, search, known, request);
        const durationMs = Math.round((performance.now() - startedAt) * 10) / 10;
        return { request, outcome, durationMs };
      }),
    );
    run.signal.throwIfAborted();
    conversation.push({ role: 'assistant', content: step.text, toolCalls: requests });
    for (const { request, outcome, durationMs } of outcomes) {
      const parsed = parseInput(request.inputText);
      const error: ToolError | undefined = outcome.ok
        ? undefined
        : { code: outcome.code, message: outcome.message };
      const output = outcome.ok ? outcome.output : null;
      run.append({
        type: 'tool-result',
        toolCallId: request.toolCallId,
        name: request.name,
        output,
        ...(error === undefined ? {} : { error }),
        durationMs,
      });
      step.toolCalls.push({
        toolCallId: request.toolCallId,
        name: request.name,
        input: parsed.ok ? parsed.input : request.inputText,
        durationMs,
        ...(error === undefined ? { output } : { error }),
      });
      conversation.push({
        role: 'tool',
        toolCallId: request.toolCallId,
        name: request.name,
        ...(outcome.ok
          ? { content: outcome.text }
          : {
              // The tool's own error text, when it gave one, helps the model correct its input; events keep the
              // code only.
              content:
                outcome.toolText === undefined
                  ? failureText(outcome)
                  : `${failureText(outcome)}\n${outcome.toolText}`,
              isError: true,
            }),
      });
    }
    run.append({ type: 'step', step: number, state: 'end', finishReason: 'tool-calls' });
  }

  recorder.usage = usage;
  // Providers report each step's usage; a failover's spliced step is estimated over the whole loop.
  await recorder.settleUsage();
  if (recorder.usage !== null) run.append({ type: 'usage', ...recorder.usage });
  recorder.steps = steps;
  recorder.holdDone();
  return steps;
}

/** Runs one call: the built-in search, or the chatbot's tool set; a refused or failed call is an outcome. */
async function runTool(
  context: PipelineContext,
  setup: AgentSetup,
  search: SearchSession | undefined,
  known: ReadonlySet<string>,
  request: ToolCallRequest,
): Promise<ToolOutcome> {
  const { run } = context;
  const fail = (code: ErrorCode, detail?: string): ToolOutcome => ({ ok: false, ...toolError(code, detail) });
  if (!known.has(request.name)) return fail('TOOL_NOT_FOUND', `No tool is named "${request.name}".`);
  const parsed = parseInput(request.inputText);
  if (!parsed.ok) return fail('TOOL_INPUT_INVALID', 'The input is not valid JSON.');
  if (search !== undefined && request.name === SEARCH_DOCUMENTS) return search.call(parsed.input);
  if (setup.tools === undefined) return fail('TOOL_NOT_FOUND', `No tool is named "${request.name}".`);
  return setup.tools.call(request.name, parsed.input, { signal: run.signal, toolCallId: request.toolCallId });
}
