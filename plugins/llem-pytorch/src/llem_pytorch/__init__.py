"""llem-pytorch: the Hugging Face transformers + PyTorch backend for llem (entry point `pytorch`)."""

from llem_pytorch._config import PyTorchConfig

__all__ = ["PyTorchConfig"]
