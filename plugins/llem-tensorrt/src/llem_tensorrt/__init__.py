"""llem backend for NVIDIA TensorRT-LLM 1.2 (the `tensorrt:` config section)."""
