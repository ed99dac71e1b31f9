"""The default, no-key model: Qwen2.5-Coder-1.5B (llama.cpp, in process) as the litellm provider `local/...`.

    register()
    litellm.completion(model="local/qwen2.5-coder-1.5b", messages=[...], tools=[...], stream=True)

Tool calls are made reliable by constraining decoding: the output is one JSON object
`{"name": <tool>, "arguments": <that tool's arguments>}`, enforced by a llama.cpp grammar built from the
tool schemas (`grammar`). Words to the user are one more such "tool", `reply` ({"text": ...}): the model then
chooses between answering and looking something up the way it was trained to choose tools, by name and
description (a separate `{"answer": ...}` branch, tried first, answered greetings and refusals less often and
made up answers to lookups more often). The prompt is the model's own chat template with the tools, then a
short note on this format with examples (`prompt`, its text in prompts/local/); the system prompt, tools and
note are a prefix that stays byte-identical, so only each new turn is processed, and its state is saved on
disk (data/models/prefix-cache/) for the next start (`model`). After tool results, a step rule decides what the
next call may do (`steps`: one round per part of the request as code splits it, a progress note written by code,
no draft before the look-up a request asks for, a draft preview ends the chain); a call that would repeat one
made since the user spoke is never returned: the answer is generated in its place, from the same cached prompt.
Text certain to come (`{"name": "`, the rest of a name once it can only be one tool, the first required key)
is evaluated in a batch rather than generated (`choice`). An answer streams as the model writes it; a tool
call arrives as one chunk (`parsing`, `call`, `provider`).

Settings: `ERP_LOCAL_MODEL_PATH` (another GGUF), `ERP_LOCAL_THREADS` / `ERP_LOCAL_BATCH_THREADS` (default:
chosen per call, see `threads.threads()`), `ERP_LOCAL_CONTEXT` (tokens, default 16384; the oldest turns are
left out when a conversation outgrows it), `ERP_LOCAL_TOOL_SUBSET` / `ERP_LOCAL_EXAMPLES` (off by default: the agent
offers only the tools a request can need, `assistant.tool_offer`, and the prompt shows only the closest examples; a
prompt of its own per request, not cached: measured slower and no more accurate, evals/results/
local_model_bench-subset.md). Importing this package does not import llama_cpp.

What it costs and how often it picks the right tool: evals/results/local_model_bench-latest.md,
local_model_bench-threads.md and local_model_design.md (the measurements behind the choices above).
"""

from assistant.llm.local.call import complete, run, warm_up
from assistant.llm.local.choice import certain_after, offered, openers
from assistant.llm.local.grammar import converts, grammar_schema, output_grammar, output_schema
from assistant.llm.local.model import (
    LocalModelTimeout,
    LocalModelUnavailable,
    drop_oldest_turn,
    engine,
    unavailable_reason,
)
from assistant.llm.local.parsing import CUT_OFF, AnswerStream, Reply, ToolCall, parse_output, tidy_arguments
from assistant.llm.local.prompt import CHATML_TOOLS_TEMPLATE, ChatTemplate, conversation
from assistant.llm.local.provider import MODEL, LocalLLM, register, unavailable_from
from assistant.llm.local.sampling import looping

__all__ = [
    "CHATML_TOOLS_TEMPLATE",
    "CUT_OFF",
    "MODEL",
    "AnswerStream",
    "ChatTemplate",
    "LocalLLM",
    "LocalModelTimeout",
    "LocalModelUnavailable",
    "Reply",
    "ToolCall",
    "certain_after",
    "complete",
    "conversation",
    "converts",
    "drop_oldest_turn",
    "engine",
    "grammar_schema",
    "looping",
    "offered",
    "openers",
    "output_grammar",
    "output_schema",
    "parse_output",
    "register",
    "run",
    "tidy_arguments",
    "unavailable_from",
    "unavailable_reason",
    "warm_up",
]
