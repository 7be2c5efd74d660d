"""The server backend's tests run against `openai_test_server` (a real local HTTP server written for them)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
