"""Demo routes that show which code and which files the running server sees.

Benchmarks and end-to-end tests rewrite the MARK line below (with an atomic save)
and poll /v1/demo/code until the new value appears: that is a reload, end to end.
"""
import os
import sys

from api.apps import SERVER_INFO, route
from api.version import get_ragflow_version
from common.paths import project_path
from deepdoc.parser import model_status
from rag.nlp import count_tokens

MARK = "demo-initial"


@route("/v1/demo/code", "/api/v1/demo/code")
def code():
    return 200, "application/json", {
        "mark": MARK,
        "pid": os.getpid(),
        "started": SERVER_INFO["started"],
        "version": get_ragflow_version(),
        "tokens": count_tokens(str(MARK)),
    }


@route("/v1/demo/env", "/api/v1/demo/env")
def env():
    venv = os.environ.get("VIRTUAL_ENV") or project_path(".venv")
    packages = {}
    for name in ("api", "rag", "deepdoc", "agent", "common"):
        module = sys.modules.get(name)
        if module is None:
            try:
                module = __import__(name)
            except ImportError:
                module = None
        packages[name] = getattr(module, "__file__", None)
    return 200, "application/json", {
        "pid": os.getpid(),
        "cwd": os.getcwd(),
        "python": sys.version.split()[0],
        "venv": os.path.exists(os.path.join(venv, "DEVENV_DEMO_VENV")),
        "model": model_status(),
        "web_dist": os.path.exists(project_path("web", "dist", "index.html")),
        "service_conf": os.path.exists(project_path("conf", "service_conf.yaml")),
        "packages": packages,
    }
