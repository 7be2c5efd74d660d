"""llem-tinyengine: a worked example of a third-party llem backend (see README.md)."""
