"""llem-vllm: the vLLM backend for llem (entry point `vllm` in the `llem.backends` group)."""
