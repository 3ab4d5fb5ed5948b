// Placeholder for the web frontend's sources.
// A checkout has no web/dist: the built frontend only exists inside the image
// (/ragflow/web/dist), where the entrypoint serves it on port 80.
export const app = { name: "ragflow-demo", version: "0.24.0" };
