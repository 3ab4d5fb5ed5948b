"""A very small tokenizer, standing in for RAGFlow's NLP helpers."""
import re

_WORD = re.compile(r"[A-Za-z0-9_]+|[^\sA-Za-z0-9_]")


def tokenize(text: str) -> list[str]:
    return [tok.lower() for tok in _WORD.findall(text)]


def count_tokens(text: str) -> int:
    return len(tokenize(text))
