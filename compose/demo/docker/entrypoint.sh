#!/usr/bin/env bash
# Entry point of the demo image, in the shape of RAGFlow v0.22-v0.24's:
# bash stays PID 1 (and so ignores SIGTERM), the Python processes run in
# restart loops, and the web frontend is served once.
set -e

cd /ragflow

ENABLE_WEBSERVER=1
ENABLE_TASKEXECUTOR=1
for arg in "$@"; do
  case "$arg" in
    --disable-webserver) ENABLE_WEBSERVER=0 ;;
    --disable-taskexecutor) ENABLE_TASKEXECUTOR=0 ;;
    *) echo "entrypoint: ignoring unknown flag $arg" ;;
  esac
done

mkdir -p /ragflow/logs

# Render the service configuration from its template (values from the environment).
CONF_DIR=/ragflow/conf
TEMPLATE_FILE="${CONF_DIR}/service_conf.yaml.template"
CONF_FILE="${CONF_DIR}/service_conf.yaml"
: > "${CONF_FILE}"
while IFS= read -r line || [[ -n "${line}" ]]; do
  eval "echo \"${line}\"" >> "${CONF_FILE}"
done < "${TEMPLATE_FILE}"
echo "entrypoint: rendered ${CONF_FILE}"

if [[ "${ENABLE_WEBSERVER}" -eq 1 ]]; then
  echo "entrypoint: serving /ragflow/web/dist on port 80"
  python3 -m http.server 80 --directory /ragflow/web/dist > /ragflow/logs/web.log 2>&1 &
fi

if [[ "${ENABLE_TASKEXECUTOR}" -eq 1 ]]; then
  echo "entrypoint: starting the task executor"
  while true; do python3 rag/svr/task_executor.py & wait; sleep 1; done &
fi

echo "entrypoint: starting the API server"
while true; do python3 api/ragflow_server.py & wait; sleep 1; done &

wait
