"""Document understanding. Its models are baked into the image under rag/res/deepdoc."""
