"""Parsers need the models that the image bakes into rag/res/deepdoc (a checkout has none)."""
import os

from common.paths import project_path

MODEL_DIR = project_path("rag", "res", "deepdoc")
MODEL_MARKER = os.path.join(MODEL_DIR, "MODEL_MARKER")


def model_status() -> str | None:
    """The baked model marker's content, or None when the models are not there."""
    try:
        with open(MODEL_MARKER, encoding="utf-8") as fh:
            return fh.read().strip()
    except OSError:
        return None


def parse_text(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]
