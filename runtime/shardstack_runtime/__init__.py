"""Shardstack's torch runtime: one rank of a sharded Llama-family model, served over an OpenAI API."""
