"""Where things live: the project root is the folder holding api/, rag/, common/ ...

Inside the image that is /ragflow; in a checkout it is the checkout root.
"""
import os

PROJECT_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def project_path(*parts: str) -> str:
    return os.path.join(PROJECT_ROOT, *parts)


def conf_dir() -> str:
    return project_path("conf")


def log_dir() -> str:
    return os.environ.get("RAGFLOW_LOG_DIR") or project_path("logs")
