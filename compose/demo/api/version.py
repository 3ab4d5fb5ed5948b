"""Release of the demo, matching the RAGFlow release whose layout it follows."""
RAGFLOW_VERSION = "v0.24.0"


def get_ragflow_version() -> str:
    return RAGFLOW_VERSION
