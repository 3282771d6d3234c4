"""Prompts per domain and turn kind, few-shot examples, and the prompt length limit."""

from prover.prompts.builders import (
    FEW_SHOT,
    SYSTEM,
    Message,
    answer_block,
    binary_retry,
    candidate_text,
    check_repair,
    error_fix,
    few_shot_turns,
    first_attempt,
    lean_formal,
    task_text,
)
from prover.prompts.limits import PromptLimiter, chat_token_counter

__all__ = [
    "FEW_SHOT",
    "SYSTEM",
    "Message",
    "answer_block",
    "PromptLimiter",
    "binary_retry",
    "candidate_text",
    "chat_token_counter",
    "check_repair",
    "error_fix",
    "few_shot_turns",
    "first_attempt",
    "lean_formal",
    "task_text",
]
