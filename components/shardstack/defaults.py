"""What a program deploys when it names nothing else: the runtime image released with this package, and where
the demo model goes in an installation's weight store.

The repository's program (``infra/``) and the ``pulumi new`` templates (``templates/``) both read these, so a
template made from a released package deploys the image of that release.
"""

from __future__ import annotations

DEFAULT_IMAGE = "ghcr.io/shardstack/runtime:0.1.0"
"""The bundled torch runtime image, at the version this package was released with."""

DEMO_MODEL_PATH = "demo/smollm2-135m-instruct"
"""Where the demo model (SmolLM2-135M-Instruct) lives in a weight store: ``shardstack-runtime weights push`` puts
it there."""
