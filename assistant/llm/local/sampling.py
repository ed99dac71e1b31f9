"""Choosing the next token: greedy, within the output grammar, and stopping a reply that loops."""

from collections.abc import Sequence
from typing import Any

import numpy as np

from core.errors import ErpError

LOOP_WINDOW = 48  # characters


def looping(output: str) -> bool:
    """Whether greedy decoding has fallen into a loop: its newest characters already appeared earlier on.

    A 1.5B model decoding greedily can repeat a sentence until max_tokens; stopping at the first repeat
    keeps the answer (cut-off replies still read as text) and the turn short. Only replies are checked:
    a tool call may rightly repeat itself (order lines for the same item)."""
    if len(output) < 3 * LOOP_WINDOW or '"reply"' not in output[:40]:
        return False
    return output[-LOOP_WINDOW:] in output[:-LOOP_WINDOW]


class GreedyChoice:
    """The most likely next token that `grammar` allows. The grammar is first asked about that one token and
    applied to the whole vocabulary only when it refuses it, as llama.cpp's own sampler does: checking 151k
    candidates at every step (what llama-cpp-python's sampler chain does) slows generation markedly
    (evals/results/local_model_design.md)."""

    def __init__(self, llama: Any, grammar: str | None) -> None:
        import ctypes

        import llama_cpp
        from llama_cpp._internals import LlamaTokenDataArray

        self.n_vocab = int(llama.n_vocab())
        self.grammar = None
        if grammar:
            self.grammar = llama_cpp.llama_sampler_init_grammar(llama._model.vocab, grammar.encode(), b"root")
            if not self.grammar:
                raise ErpError("llama.cpp refused the output grammar built from the tool schemas")
        self.token_data = llama_cpp.llama_token_data
        self.one = (llama_cpp.llama_token_data * 1)()
        self.one_array = llama_cpp.llama_token_data_array(
            data=ctypes.cast(self.one, llama_cpp.llama_token_data_p), size=1, selected=-1, sorted=False
        )
        self.all = LlamaTokenDataArray(n_vocab=self.n_vocab) if grammar else None
        self._apply, self._byref = llama_cpp.llama_sampler_apply, ctypes.byref

    def allows(self, token: int) -> bool:
        if self.grammar is None:
            return True
        self.one[0] = self.token_data(token, 0.0, 0.0)
        self.one_array.size, self.one_array.selected = 1, -1
        self._apply(self.grammar, self._byref(self.one_array))
        return bool(np.isfinite(self.one[0].logit))

    def take(self, tokens: Sequence[int]) -> list[int]:
        """Accept `tokens` while the grammar allows them (accepting a refused one would abort llama.cpp)."""
        taken = []
        for token in tokens:
            if not self.allows(token):
                break
            self.accept(token)
            taken.append(token)
        return taken

    def choose(self, logits: Any) -> int:
        token = int(np.argmax(logits))
        if self.grammar is None or self.all is None or self.allows(token):
            return token
        self.all.copy_logits(logits)
        self._apply(self.grammar, self._byref(self.all.candidates))
        return int(self.all.candidates_data.id[int(np.argmax(self.all.candidates_data.logit))])

    def accept(self, token: int) -> None:
        if self.grammar is not None:
            import llama_cpp

            llama_cpp.llama_sampler_accept(self.grammar, token)

    def close(self) -> None:
        if self.grammar is not None:
            import llama_cpp

            llama_cpp.llama_sampler_free(self.grammar)
            self.grammar = None
