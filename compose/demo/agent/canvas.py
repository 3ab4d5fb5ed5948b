"""A canvas that runs its components in order; the demo only has an echo component."""


class Canvas:
    def __init__(self, components=None):
        self.components = list(components or [])

    def run(self, text: str) -> str:
        for component in self.components:
            text = component(text)
        return text


def echo(text: str) -> str:
    return text
