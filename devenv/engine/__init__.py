"""The one door to the Docker engine (or Podman's Docker-compatible one).

Every ``docker`` / ``docker compose`` call devenv makes goes through an
:class:`Engine` (:mod:`.protocol`); the real one is :class:`.docker.DockerEngine`.
Importing this package imports no Docker library.
"""

from .protocol import PROJECT_LABEL, SERVICE_LABEL, WORKING_DIR_LABEL, Agent, ContainerState, Engine, EngineInfo, MountState, NetworkState, Target

__all__ = ["PROJECT_LABEL", "SERVICE_LABEL", "WORKING_DIR_LABEL", "Agent", "ContainerState", "Engine", "EngineInfo", "MountState", "NetworkState", "Target"]
