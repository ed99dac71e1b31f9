"""A simulated user (tau-bench's user simulator): a model plays the person with the task's goal.

The task's first turn opens the conversation; after each answer the simulator writes the
user's next message, or DONE when the goal is met or the assistant cannot help.
"""

from typing import Any

from assistant.llm.gateway import litellm

DONE = "DONE"
PROMPT = (
    "You play a staff member of a distributor chatting with the company's ERP assistant. Your goal: {goal}\n"
    "Write only your next message to the assistant: short, plain, as a busy person types. Give facts the "
    "assistant asks for when your goal contains them; never invent others. A change the assistant drafts is "
    "confirmed with the Confirm button on its card, not in your messages. Do not approve anything yourself. "
    f"When the goal is met, or the assistant says it cannot do it, reply with exactly {DONE}."
)


def next_message(model: str, goal: str, exchanges: list[tuple[str, str]]) -> str | None:
    """The user's next message after these (user, assistant) exchanges; None when the user is done."""
    messages: list[dict[str, Any]] = [{"role": "system", "content": PROMPT.format(goal=goal)}]
    for said, answered in exchanges:  # the roles swap: the simulator speaks as "assistant"
        messages += [{"role": "assistant", "content": said}, {"role": "user", "content": answered}]
    response = litellm().completion(model=model, messages=messages, temperature=0, max_tokens=120)
    text = (response.choices[0].message.content or "").strip()
    return None if not text or text.upper().startswith(DONE) else text
